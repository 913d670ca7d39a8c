using Decomp.Apps;
using Decomp.Dialogue.Data;
using Decomp.Dialogue.Model;
using Decomp.Dialogue.Text;

namespace Decomp.Dialogue.Training;

/// <summary>
/// What a run reads before it trains: the corpus, the model's vocabulary, the encoder, and the encoded examples of each
/// split (split points 1 &lt; k &lt; L).
/// </summary>
/// <param name="Corpus">The dialogues.</param>
/// <param name="Vocabulary">The model's token ids.</param>
/// <param name="Encoder">Turns dialogues into examples and ids back into text.</param>
/// <param name="Train">The training examples.</param>
/// <param name="TrainDialogueOf">The dialogue of each training example (an epoch of random splits takes one per dialogue).</param>
/// <param name="Valid">The validation examples.</param>
/// <param name="Test">The test examples.</param>
public sealed record RunInputs(DialogueCorpus Corpus, Vocabulary Vocabulary, DialogueEncoder Encoder, List<EncodedExample> Train,
                               int[] TrainDialogueOf, List<EncodedExample> Valid, List<EncodedExample> Test)
{
    /// <summary>
    /// Loads the tokenizer and the corpus, writes <c>corpus.md</c> into <paramref name="outputDirectory"/>, and encodes
    /// every split with <paramref name="vocabulary"/> (a checkpoint's), or with the vocabulary the options choose.
    /// </summary>
    public static RunInputs Load(TrainingOptions options, Vocabulary? vocabulary, string outputDirectory, TextWriter log)
    {
        var tokenizer = Gpt2Tokenizer.Load(Gpt2TokenizerFiles.Ensure(options.TokenizerDirectory, log.WriteLine));
        var corpus = LoadCorpus(options);
        log.WriteLine($"corpus {corpus.Name}: {corpus.Train.Count} / {corpus.Valid.Count} / {corpus.Test.Count} dialogues (train / valid / test)");
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "corpus.md"), CorpusStatistics.Compute(corpus, tokenizer).ToMarkdown(corpus.LatentNames));
        vocabulary ??= options.Vocabulary == VocabularyChoice.Full
            ? Vocabulary.Full()
            : Vocabulary.Trimmed(DialogueEncoder.Gpt2IdsOf(tokenizer, corpus.All));
        var encoder = new DialogueEncoder(tokenizer, vocabulary, options.MaxPastTokens, options.MaxFutureTokens);
        var trainExamples = DialogueExamples.From(corpus.Train);
        return new RunInputs(corpus, vocabulary, encoder, encoder.Encode(trainExamples), trainExamples.Select(e => e.Dialogue).ToArray(),
                             encoder.Encode(DialogueExamples.From(corpus.Valid)), encoder.Encode(DialogueExamples.From(corpus.Test)));
    }

    /// <summary>The corpus the options name, its training dialogues cut to <see cref="TrainingOptions.MaxDialogues"/>.</summary>
    public static DialogueCorpus LoadCorpus(TrainingOptions options)
    {
        var corpus = options.Data switch
        {
            DataSource.Wow => WizardOfWikipedia.Load(options.DataDirectory!, options.WowSplit),
            DataSource.DailyDialog => DailyDialog.Load(options.DataDirectory!),
            _ => GeneratedCorpus.Generate(options.CorpusDialogues, HeldOutDialogues(options.CorpusDialogues),
                                          HeldOutDialogues(options.CorpusDialogues), options.CorpusSeed),
        };
        return options.MaxDialogues > 0 && corpus.Train.Count > options.MaxDialogues
            ? corpus with { Train = corpus.Train.Take(options.MaxDialogues).ToList() }
            : corpus;
    }

    /// <summary>Validation and test dialogues of the generated corpus: a tenth of the training ones, at least 20.</summary>
    public static int HeldOutDialogues(int trainDialogues) => Math.Max(20, trainDialogues / 10);

    /// <summary>
    /// The model the options describe, before training: the pretrained weights (cut to <paramref name="vocabulary"/>), or
    /// a preset with the options' overrides initialised from the seed. Rebuilt, not stored, for the probe at initialisation.
    /// </summary>
    public static Gpt2Model BuildModel(TrainingOptions options, Vocabulary vocabulary)
    {
        if (options.Pretrained is not null)
            return Gpt2Weights.Load(options.Pretrained, vocabulary.IsFull ? null : vocabulary.Gpt2Ids, options.Dropout);
        var preset = Gpt2Config.Preset(options.ModelSize, vocabulary.Count);
        var config = preset with
        {
            EmbeddingSize = options.EmbeddingSize ?? preset.EmbeddingSize,
            Layers = options.Layers ?? preset.Layers,
            Heads = options.Heads ?? preset.Heads,
            ContextLength = options.ContextLength ?? preset.ContextLength,
        };
        return new Gpt2Model(config.WithDropout(options.Dropout), options.Seed);
    }
}
