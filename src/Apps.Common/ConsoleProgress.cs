using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Decomp.Apps;

/// <summary>How a <see cref="ConsoleProgress"/> counts and prints; every setting has a default.</summary>
public sealed record ProgressSettings
{
    /// <summary>What a unit of work is called in plain lines ("step 40/100"); null prints the percentage alone, for work
    /// counted in units that mean nothing to the reader (a cost estimate).</summary>
    public string? Unit { get; init; } = "step";

    /// <summary>Units done before this process started (a resumed run): the ETA's rate counts only this process's units.</summary>
    public long Completed { get; init; }

    /// <summary>The time those units took, in seconds: the elapsed time printed counts from there.</summary>
    public double CompletedSeconds { get; init; }

    /// <summary>Plain lines at most every this many seconds (0: one per report); a forced report and the last one always print.</summary>
    public double IntervalSeconds { get; init; }

    /// <summary>A wall-clock budget in seconds (0: none), counted like the elapsed time: the share done is the larger of the
    /// units' and the budget's, and the ETA never passes the budget's end.</summary>
    public double BudgetSeconds { get; init; }

    /// <summary>Whether the work may stop before its total (early stopping): the ETA then reads "at most".</summary>
    public bool MayEndEarly { get; init; }

    /// <summary>The clock (tests give a fake one).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// Progress of long work with elapsed time and an ETA, on a writer: a Spectre.Console bar when the writer is the console's
/// standard output or standard error and that is a terminal; one plain line per report otherwise (redirected output,
/// logs, tests). Lines the work prints meanwhile go through <see cref="Log"/> or <see cref="Lines"/>, so that on a terminal
/// they appear above the bar instead of through it. A reporter started while another one draws on the terminal adds its
/// own row to that display (an epoch's negatives sampled in the middle of training) and removes it when disposed.
/// </summary>
/// <example>
/// <code>
/// using var progress = ConsoleProgress.Start(Console.Out, "training", totalSteps, new() { Completed = resumedStep });
/// for (var step = resumedStep + 1; step &lt;= totalSteps; step++)
/// {
///     var loss = Train(step);
///     progress.Report(step, $"loss {loss:F3}");
///     if (step % 1000 == 0) progress.Log($"checkpoint at step {step}");
/// }
/// </code>
/// </example>
public sealed class ConsoleProgress : IDisposable
{
    private readonly TextWriter _writer;
    private readonly string _title;
    private readonly long _total;
    private readonly ProgressSettings _settings;
    private readonly long _started;
    private readonly LiveDisplay? _live;
    private readonly ProgressTask? _task;
    private double _lastLine = double.NegativeInfinity;
    private long _done;
    private bool _disposed;

    private ConsoleProgress(TextWriter writer, string title, long total, ProgressSettings settings)
    {
        (_writer, _title, _total, _settings) = (writer, title, total, settings);
        _done = settings.Completed;
        _started = settings.Time.GetTimestamp();
        Lines = new LineWriter(this);
        _live = LiveDisplay.Join(writer);
        if (_live is null) return;
        _task = _live.AddTask(Markup.Escape($"{title}: starting"), total, this);
        _task.Value = _done;
    }

    /// <summary>
    /// Starts reporting <paramref name="total"/> units of work titled <paramref name="title"/> on <paramref name="writer"/>
    /// (standard error keeps standard output clean for results). Dispose it when the work ends or stops.
    /// </summary>
    public static ConsoleProgress Start(TextWriter writer, string title, long total, ProgressSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(title);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(total);
        settings ??= new ProgressSettings();
        if (settings.Completed < 0 || settings.Completed > total)
            throw new ArgumentException($"settings.Completed must be within [0, total = {total}]; got {settings.Completed}", nameof(settings));
        if (!(settings.CompletedSeconds >= 0) || !(settings.IntervalSeconds >= 0) || !(settings.BudgetSeconds >= 0))
            throw new ArgumentException($"settings' seconds must be 0 or more; got CompletedSeconds {settings.CompletedSeconds}, IntervalSeconds "
                                        + $"{settings.IntervalSeconds}, BudgetSeconds {settings.BudgetSeconds}", nameof(settings));
        ArgumentNullException.ThrowIfNull(settings.Time, "settings.Time");
        return new ConsoleProgress(writer, title, total, settings);
    }

    /// <summary>
    /// Runs <paramref name="work"/>, which reports with <c>report(done, status)</c>: <c>done</c> of <paramref name="total"/>
    /// steps finished, and a short status (the bar's description, or the plain line's middle), one plain line per report.
    /// The ETA assumes the rate so far holds for all <paramref name="total"/> steps, so work that can stop early (early
    /// stopping) ends sooner: it reads "at most".
    /// </summary>
    public static T Run<T>(TextWriter writer, string title, int total, Func<Action<int, string>, T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        using var progress = Start(writer, title, total, new ProgressSettings { MayEndEarly = true });
        return work((done, status) => progress.Report(done, status));
    }

    /// <summary>
    /// A writer of whole lines that go through <see cref="Log"/>: for code that prints to a <see cref="TextWriter"/>
    /// while the work runs. Text is held until its line ends.
    /// </summary>
    public TextWriter Lines { get; }

    /// <summary>
    /// <paramref name="done"/> units are finished (this process's and <see cref="ProgressSettings.Completed"/>);
    /// <paramref name="status"/> says how it goes (a loss, an estimate). A plain line prints when the interval has passed,
    /// when <paramref name="force"/> is set, and at the last unit; the bar follows every report.
    /// </summary>
    public void Report(long done, string status, bool force = false)
    {
        ArgumentNullException.ThrowIfNull(status);
        ArgumentOutOfRangeException.ThrowIfNegative(done);
        _done = Math.Min(done, _total);
        if (_task is not null)
        {
            _task.Description = Markup.Escape(status.Length == 0 ? _title : $"{_title}: {status}");
            _task.Value = Fraction() * _total;
            return;
        }
        var now = SessionSeconds();
        if (!force && _done < _total && now - _lastLine < _settings.IntervalSeconds) return;
        _lastLine = now;
        _writer.WriteLine(PlainLine(status));
    }

    /// <summary>Prints <paramref name="line"/> as it is: above the bar on a terminal, as the next line otherwise.</summary>
    public void Log(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (_live is not null && !_disposed) _live.WriteLine(line);
        else _writer.WriteLine(line);
    }

    /// <summary>Ends the report: on a terminal the bar stays with its final state (a nested reporter's row goes).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        Lines.Flush();
        _disposed = true;
        if (_live is null || _task is null) return;
        _task.Description = Markup.Escape(_done >= _total ? $"{_title}: done" : $"{_title}: stopped");
        _live.Leave(_task);
    }

    /// <summary>The plain line of a report: "title: step done/total (p%)  status  elapsed e  ETA t".</summary>
    private string PlainLine(string status)
    {
        var count = _settings.Unit is { } unit ? $"{unit} {_done}/{_total} ({100 * Fraction():F0}%)" : $"{100 * Fraction():F0}%";
        return $"{_title}: {count}  {(status.Length > 0 ? status + "  " : "")}{Times()}";
    }

    /// <summary>"elapsed e  ETA t", the same in plain lines and beside the bar.</summary>
    private string Times() =>
        $"elapsed {Durations.Format(ElapsedSeconds())}  ETA {Durations.Format(EtaSeconds())}{(_settings.MayEndEarly ? " at most" : "")}";

    private double SessionSeconds() => _settings.Time.GetElapsedTime(_started).TotalSeconds;

    private double ElapsedSeconds() => _settings.CompletedSeconds + SessionSeconds();

    /// <summary>The share done: of the units, or of the budget when that is further.</summary>
    private double Fraction()
    {
        var units = (double)_done / _total;
        return _settings.BudgetSeconds > 0 ? Math.Min(1, Math.Max(units, ElapsedSeconds() / _settings.BudgetSeconds)) : units;
    }

    /// <summary>This process's rate over what is left, capped by the budget's end; NaN before this process finished a unit.</summary>
    private double EtaSeconds()
    {
        var doneHere = _done - _settings.Completed;
        var eta = doneHere > 0 ? SessionSeconds() / doneHere * (_total - _done) : double.NaN;
        if (_settings.BudgetSeconds > 0)
        {
            var left = Math.Max(0, _settings.BudgetSeconds - ElapsedSeconds());
            eta = double.IsNaN(eta) ? left : Math.Min(eta, left);
        }
        return eta;
    }

    /// <summary>Whole lines to <see cref="Log"/>.</summary>
    private sealed class LineWriter(ConsoleProgress owner) : TextWriter
    {
        private readonly StringBuilder _line = new();

        public ConsoleProgress Owner => owner;

        public override Encoding Encoding => owner._writer.Encoding;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                owner.Log(_line.ToString().TrimEnd('\r'));
                _line.Clear();
            }
            else _line.Append(value);
        }

        public override void Write(string? value)
        {
            foreach (var c in value ?? "") Write(c);
        }

        public override void WriteLine(string? value)
        {
            _line.Append(value);
            Write('\n');
        }

        public override void Flush()
        {
            if (_line.Length == 0) return;
            owner.Log(_line.ToString());
            _line.Clear();
        }
    }

    /// <summary>"elapsed e  ETA t" beside the bar, from the reporter that owns the row (its resume offset and budget).</summary>
    private sealed class TimesColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Tag is ConsoleProgress p ? p.Times() : "", new Style(Color.Grey));
    }

    /// <summary>
    /// The one Spectre.Console progress display of the process, drawn on its own thread while the work runs on the
    /// caller's: reporters started while it is up add their rows to it, and the last one to leave stops it.
    /// </summary>
    private sealed class LiveDisplay
    {
        private static readonly object Gate = new();
        private static LiveDisplay? _current;
        private readonly IAnsiConsole _console;
        private readonly ManualResetEventSlim _ready = new(), _stop = new();
        private readonly Thread _thread;
        private ProgressContext? _context;
        private Exception? _failure;
        private int _rows;

        private LiveDisplay(IAnsiConsole console)
        {
            _console = console;
            _thread = new Thread(Draw) { IsBackground = true, Name = "Decomp progress" };
            _thread.Start();
            _ready.Wait();
            if (_failure is not null) throw new InvalidOperationException($"the progress display could not start: {_failure.Message}", _failure);
        }

        /// <summary>The display to draw on, started if need be; null when <paramref name="writer"/> is not a terminal.</summary>
        public static LiveDisplay? Join(TextWriter writer)
        {
            // A reporter started on the lines of one that draws (a stage inside the work) gets a row of the same display.
            if (writer is LineWriter { Owner: var owner })
                lock (Gate)
                {
                    if (owner._live is null || owner._disposed || owner._live != _current) return null;
                    owner._live._rows++;
                    return owner._live;
                }
            var terminal = ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected
                           || ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;
            if (!terminal) return null;
            lock (Gate)
            {
                if (_current is null)
                {
                    var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
                    // A terminal without ANSI codes (TERM=dumb) or a CI log gets plain lines.
                    if (!console.Profile.Capabilities.Ansi || !console.Profile.Capabilities.Interactive) return null;
                    _current = new LiveDisplay(console);
                }
                _current._rows++;
                return _current;
            }
        }

        public ProgressTask AddTask(string description, long total, ConsoleProgress owner)
        {
            var task = _context!.AddTask(description, maxValue: total);
            task.Tag = owner;
            return task;
        }

        public void WriteLine(string line) => _console.WriteLine(line);

        /// <summary>A reporter is done: a nested row goes, the first one's stays; the last to leave stops the display.</summary>
        public void Leave(ProgressTask task)
        {
            lock (Gate)
            {
                if (--_rows > 0)
                {
                    _context!.RemoveTask(task);
                    return;
                }
                _current = null;
            }
            _context!.Refresh();
            _stop.Set();
            _thread.Join();
        }

        private void Draw()
        {
            try
            {
                _console.Progress()
                    .AutoClear(false)
                    .HideCompleted(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TimesColumn(), new SpinnerColumn())
                    .Start(context =>
                    {
                        _context = context;
                        _ready.Set();
                        _stop.Wait();
                    });
            }
            catch (Exception e)
            {
                _failure = e;
                _ready.Set();
            }
        }
    }
}
