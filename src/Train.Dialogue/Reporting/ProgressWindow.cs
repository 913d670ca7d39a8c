using Decomp.Dialogue.Training;

namespace Decomp.Dialogue.Reporting;

/// <summary>
/// The steps since the last progress line: the sums of their outcomes (a row of <c>train.csv</c> is their mean) and the
/// time and step the speed is measured from.
/// </summary>
public sealed class ProgressWindow
{
    private double _loss, _languageModel, _infoNce, _conditional;
    private int _steps;
    private double _since;
    private long _stepAtStart;

    /// <summary>A window that starts at <paramref name="elapsedSeconds"/> and <paramref name="step"/>.</summary>
    public ProgressWindow(double elapsedSeconds, long step) => RestartClock(elapsedSeconds, step);

    /// <summary>Adds one step's outcome; a bound the step lacks makes the window's mean of it absent.</summary>
    public void Add(StepOutcome outcome)
    {
        _loss += outcome.Loss;
        _languageModel += outcome.LanguageModelLoss;
        _infoNce += outcome.InfoNce ?? double.NaN;
        _conditional += outcome.ConditionalInfoNce ?? double.NaN;
        _steps++;
    }

    /// <summary>
    /// Measures speed from here on. Evaluation and negative sampling take time that is not training speed, so the run
    /// restarts the clock after them; the sums are kept.
    /// </summary>
    public void RestartClock(double elapsedSeconds, long step)
    {
        _since = elapsedSeconds;
        _stepAtStart = step;
    }

    /// <summary>Whether <paramref name="interval"/> seconds have passed since the clock started.</summary>
    public bool Due(double elapsedSeconds, double interval) => elapsedSeconds - _since >= interval;

    /// <summary>Steps per second since the clock started.</summary>
    public double Rate(double elapsedSeconds, long step) => (step - _stepAtStart) / Math.Max(1e-9, elapsedSeconds - _since);

    /// <summary>The mean outcome of the window's steps; empties the window.</summary>
    public StepOutcome TakeMean()
    {
        double infoNce = _infoNce / _steps, conditional = _conditional / _steps;
        var mean = new StepOutcome(_loss / _steps, _languageModel / _steps, double.IsNaN(infoNce) ? null : infoNce,
                                   double.IsNaN(conditional) ? null : conditional);
        (_loss, _languageModel, _infoNce, _conditional, _steps) = (0, 0, 0, 0, 0);
        return mean;
    }
}
