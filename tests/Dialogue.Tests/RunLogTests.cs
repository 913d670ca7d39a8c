using Decomp.Apps;
using Decomp.Dialogue.Training;
using Xunit;

namespace Decomp.Dialogue.Tests;

public class RunLogTests
{
    [Fact]
    public void ALogSavedByAnEarlierVersionWithNaNForMissingValuesIsRestoredWithEmptyCells()
    {
        // What checkpoints held before the logs were typed: every value as "R", a missing one as NaN.
        const string saved = "step,epoch,elapsed_s,lr,loss,lm_loss,infonce,cond_infonce,steps_per_s\n"
                           + "3,1,2.5,0.001,4.25,4,0.5,NaN,1.2\n5,1.6666666666666667,3.75,0.0009,4,3.5,NaN,NaN,0.8\n";
        using var dir = new TemporaryDirectory();
        var rows = CsvRunLog.Parse<TrainRow>(saved, "saved").Select(l => l.Record.FromEarlierVersion()).ToList();
        var log = new CsvLog<TrainRow>(dir.File("train.csv"), rows);

        Assert.Equal([0.5, null], log.Rows.Select(r => r.InfoNce));
        Assert.Equal(saved.Replace("NaN", ""), File.ReadAllText(dir.File("train.csv")));
        Assert.Equal(log.Text, File.ReadAllText(dir.File("train.csv")));
    }

    [Fact]
    public void ASavedLogWithOtherColumnsIsRefusedNamingItAndTheLine()
    {
        var e = Assert.Throws<BadInputException>(() => CsvRunLog.Parse<EvaluationRow>("step,epoch,valid_ppl\n0,0,3\n", "the checkpoint's copy of eval.csv"));
        Assert.StartsWith("the checkpoint's copy of eval.csv, line 1: the header is", e.Message);
    }
}
