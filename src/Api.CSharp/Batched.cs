using TorchSharp;
using static TorchSharp.torch;

namespace Decomp;

/// <summary>
/// Independent training runs that share shapes (the same estimator and K; different seeds, data and ground truths)
/// trained together as one batched network: every layer's parameters are stacked along a leading run axis <c>[R, ...]</c>
/// and batched matrix products replace the per-run ones. The loss is the sum of the runs' objectives, which gives each run
/// exactly its own gradient, and Adam is elementwise, so each run keeps its own Adam state: a batched run equals the same
/// runs trained one by one, up to float rounding. The C# face of <c>Decomp.Core.Batched</c>.
/// </summary>
public static class Batched
{
    /// <summary>R critics <c>Critics.Mlp(inputSize, hiddenSizes, outputSize)</c> as one network: input <c>[R, n, inputSize]</c>, output <c>[R, n, outputSize]</c>; zero until <see cref="Initialise"/>.</summary>
    public static nn.Module<Tensor, Tensor> Mlp(int runs, int inputSize, IReadOnlyList<int> hiddenSizes, int outputSize)
    {
        if (hiddenSizes is null) throw new ArgumentNullException(nameof(hiddenSizes));
        return Core.Batched.mlp(runs, inputSize, Microsoft.FSharp.Collections.ListModule.OfSeq(hiddenSizes), outputSize);
    }

    /// <summary>Draws run r's parameters from <paramref name="generators"/>[r] with PyTorch's default Linear distribution, in the order run r's own <c>Critics.Mlp</c> would draw them.</summary>
    public static void Initialise(Generator[] generators, nn.Module<Tensor, Tensor> network) => Core.Batched.initialise(generators, Stacked(network, nameof(network)));

    /// <summary>Run <paramref name="run"/>'s critic as a plain MLP holding a copy of its parameters.</summary>
    public static nn.Module<Tensor, Tensor> Extract(int run, nn.Module<Tensor, Tensor> network) => Core.Batched.extract(run, Stacked(network, nameof(network)));

    /// <summary>
    /// <see cref="Mlp"/>'s network over some of its runs: <paramref name="runs"/> is an int64 index <c>[A]</c> into the run
    /// axis, and <paramref name="input"/> <c>[A, n, inputSize]</c> gives <c>[A, n, outputSize]</c>, block a through run
    /// <c>runs[a]</c>'s layers; the other runs take no part and get a zero gradient.
    /// </summary>
    public static Tensor ForwardOf(nn.Module<Tensor, Tensor> network, Tensor runs, Tensor input) => Stacked(network, nameof(network)).ForwardOf(runs, input);

    /// <summary>Each run's in-batch score matrix <c>[R, B, B]</c> (positives on the diagonal) in Decomp's positive-first layout <c>[R, B, B]</c> (<c>Scores.OfInBatch</c> for every run).</summary>
    public static Tensor OfInBatch(Tensor matrices) => Core.Batched.ofInBatch(matrices);

    /// <summary>In-batch dot-product scores per run, <c>[R, B, B]</c> in Decomp's positive-first layout, from queries and keys <c>[R, B, D]</c>.</summary>
    public static Tensor InBatchScores(Tensor queries, Tensor keys) => Core.Batched.inBatchScores(queries, keys);

    /// <summary>Dot-product scores per run against per-example candidates: queries and positive keys <c>[R, n, D]</c>, negatives <c>[R, n, M, D]</c>; result <c>[R, n, 1 + M]</c>.</summary>
    public static Tensor ScoresOf(Tensor queries, Tensor positiveKeys, Tensor negativeKeys) => Core.Batched.scores(queries, positiveKeys, negativeKeys);

    /// <summary>The scores of <see cref="ScoresOf"/> against <c>keyEncoder(negativeInputs)</c>, with the key encoder's last layer applied to the queries instead of the negatives: <c>f(x) · (h(y) W + b) = (f(x) Wᵀ) · h(y) + f(x) · b</c>.</summary>
    public static Tensor ScoresOfEncoded(nn.Module<Tensor, Tensor> keyEncoder, Tensor queries, Tensor positiveKeys, Tensor negativeInputs) =>
        Core.Batched.scoresOfEncoded(Stacked(keyEncoder, nameof(keyEncoder)), queries, positiveKeys, negativeInputs);

    /// <summary>A per-example bound (e.g. <c>Bounds.InfoNce</c>'s core function) applied to every run's scores <c>[R, B, K]</c>: <c>[R, B]</c>.</summary>
    public static Tensor PerRun(Func<Tensor, Tensor> bound, Tensor scores)
    {
        if (bound is null) throw new ArgumentNullException(nameof(bound));
        return Core.Batched.perRun(Microsoft.FSharp.Core.FuncConvert.FromFunc(bound), scores);
    }

    /// <summary>A per-example bound of two score matrices applied to every run: <c>[R, B, K1]</c> and <c>[R, B, K2]</c> give <c>[R, B]</c>.</summary>
    public static Tensor PerRun(Func<Tensor, Tensor, Tensor> bound, Tensor first, Tensor second)
    {
        if (bound is null) throw new ArgumentNullException(nameof(bound));
        return Core.Batched.perRun2(Microsoft.FSharp.Core.FuncConvert.FromFunc(bound), first, second);
    }

    /// <summary>
    /// A bound applied to each run's scores <c>[B, K]</c> on its own, <c>[R, B, K]</c> giving <c>[R, B]</c>: for bounds with a
    /// term shared by the whole batch (Donsker-Varadhan, SMILE, MINE), which <see cref="PerRun(Func{Tensor, Tensor}, Tensor)"/>
    /// would share across runs. <paramref name="bound"/>(run, scores) may keep state per run.
    /// </summary>
    public static Tensor EachRun(Func<int, Tensor, Tensor> bound, Tensor scores)
    {
        if (bound is null) throw new ArgumentNullException(nameof(bound));
        return Core.Batched.eachRun(Microsoft.FSharp.Core.FuncConvert.FromFunc(bound), scores);
    }

    /// <summary>
    /// Trains R runs together for at most <paramref name="maxSteps"/> Adam steps, until <paramref name="observe"/>(step,
    /// values) returns false: <paramref name="objective"/>(step) returns the objectives to maximise of the runs it trains
    /// that step. A run left out gets a zero gradient (Adam still moves it by its moments). Returns the steps taken.
    /// </summary>
    public static int TrainWhile(IEnumerable<TorchSharp.Modules.Parameter> parameters, double learningRate, int maxSteps, Func<int, Tensor> objective, Func<int, Tensor, bool> observe)
    {
        if (objective is null) throw new ArgumentNullException(nameof(objective));
        if (observe is null) throw new ArgumentNullException(nameof(observe));
        return Core.Batched.trainWhile(parameters, learningRate, maxSteps, Microsoft.FSharp.Core.FuncConvert.FromFunc(objective),
            Microsoft.FSharp.Core.FuncConvert.FromFunc(observe));
    }

    /// <summary>
    /// Trains R runs together for <paramref name="steps"/> Adam steps: <paramref name="objective"/>(step) returns the runs'
    /// objectives <c>[R]</c> to maximise, and <paramref name="observe"/>(step, values) sees them after each step. Each step
    /// runs in its own dispose scope.
    /// </summary>
    public static void Train(IEnumerable<TorchSharp.Modules.Parameter> parameters, double learningRate, int steps, Func<int, Tensor> objective, Action<int, Tensor> observe)
    {
        if (objective is null) throw new ArgumentNullException(nameof(objective));
        if (observe is null) throw new ArgumentNullException(nameof(observe));
        Core.Batched.train(parameters, learningRate, steps, Microsoft.FSharp.Core.FuncConvert.FromFunc(objective),
            Microsoft.FSharp.Core.FuncConvert.FromAction(observe));
    }

    private static Core.BatchedMlp Stacked(nn.Module<Tensor, Tensor> network, string name) =>
        network switch
        {
            null => throw new ArgumentNullException(name),
            Core.BatchedMlp stacked => stacked,
            _ => throw new ArgumentException($"{name} must be a batched network made by Batched.Mlp; got {network.GetType().Name}.", name),
        };
}
