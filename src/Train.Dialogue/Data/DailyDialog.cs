using System.Text.RegularExpressions;

namespace Decomp.Dialogue.Data;

/// <summary>
/// Reads DailyDialog (Li et al., 2017) in its released text format: one dialogue a line, utterances each followed by
/// <c>__eou__</c>. The released layout has <c>train/dialogues_train.txt</c>, <c>validation/dialogues_validation.txt</c>
/// and <c>test/dialogues_test.txt</c>; the three files may also sit directly in the folder.
/// </summary>
public static partial class DailyDialog
{
    /// <summary>The corpus name used in logs and metrics.</summary>
    public const string Name = "dailydialog";

    /// <summary>The end-of-utterance marker.</summary>
    public const string EndOfUtterance = "__eou__";

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    /// <summary>Loads the three splits from <paramref name="directory"/>.</summary>
    public static DialogueCorpus Load(string directory) => new(Name,
        LoadFile(Find(directory, "train", "dialogues_train.txt")),
        LoadFile(Find(directory, "validation", "dialogues_validation.txt")),
        LoadFile(Find(directory, "test", "dialogues_test.txt")));

    private static string Find(string directory, string folder, string file)
    {
        var nested = Path.Combine(directory, folder, file);
        return File.Exists(nested) ? nested : Path.Combine(directory, file);
    }

    /// <summary>The dialogues of one file.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">A non-empty line lacks the <c>__eou__</c> marker; the message names file and line.</exception>
    public static List<Dialogue> LoadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"DailyDialog file not found: {path}", path);
        var dialogues = new List<Dialogue>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (!line.Contains(EndOfUtterance, StringComparison.Ordinal))
                throw new InvalidDataException($"{path}:{lineNumber}: no {EndOfUtterance} marker; not DailyDialog's text format");
            var utterances = line.Split(EndOfUtterance)
                .Select(NormaliseWhitespace)
                .Where(u => u.Length > 0)
                .ToList();
            dialogues.Add(new Dialogue(utterances));
        }
        return dialogues;
    }

    /// <summary>Trims <paramref name="text"/> and collapses its whitespace runs to single spaces.</summary>
    public static string NormaliseWhitespace(string text) => Whitespace().Replace(text, " ").Trim();
}
