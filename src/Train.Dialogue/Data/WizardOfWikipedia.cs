using System.Text.Json;
using System.Text.Json.Serialization;

namespace Decomp.Dialogue.Data;

/// <summary>
/// Reads Wizard of Wikipedia (Dinan et al., 2019) in its released JSON: a list of dialogues, each with
/// <c>chosen_topic</c> and <c>dialog</c>, a list of turns with <c>speaker</c> (<c>0_Wizard</c>, <c>1_Apprentice</c>, ...)
/// and <c>text</c>; the knowledge fields are skipped. The files are read as a stream, one dialogue at a time.
/// </summary>
public static class WizardOfWikipedia
{
    /// <summary>The corpus name used in logs and metrics.</summary>
    public const string Name = "wizard_of_wikipedia";

    private sealed record Turn([property: JsonPropertyName("speaker")] string? Speaker,
                               [property: JsonPropertyName("text")] string? Text);

    private sealed record Conversation([property: JsonPropertyName("chosen_topic")] string? ChosenTopic,
                                       [property: JsonPropertyName("dialog")] List<Turn>? Dialog);

    /// <summary>
    /// Loads <c>train.json</c>, <c>valid_{split}_split.json</c> and <c>test_{split}_split.json</c> from
    /// <paramref name="directory"/>; <paramref name="split"/> is <c>random</c> (seen topics) or <c>topic</c> (unseen topics).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="split"/> is neither.</exception>
    public static DialogueCorpus Load(string directory, string split = "random")
    {
        if (split is not ("random" or "topic"))
            throw new ArgumentException($"the Wizard of Wikipedia split must be 'random' or 'topic', got '{split}'", nameof(split));
        return new DialogueCorpus(Name,
            LoadFile(Path.Combine(directory, "train.json")),
            LoadFile(Path.Combine(directory, $"valid_{split}_split.json")),
            LoadFile(Path.Combine(directory, $"test_{split}_split.json")));
    }

    /// <summary>The dialogues of one file, each as its turns' texts.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="InvalidDataException">The file is not the expected JSON; the message names it.</exception>
    public static List<Dialogue> LoadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Wizard of Wikipedia file not found: {path}", path);
        var dialogues = new List<Dialogue>();
        using var stream = File.OpenRead(path);
        try
        {
            int index = 0;
            foreach (var conversation in JsonSerializer.DeserializeAsyncEnumerable<Conversation>(stream).ToBlockingEnumerable())
            {
                if (conversation?.Dialog is null)
                    throw new InvalidDataException($"{path}: dialogue {index} has no \"dialog\" list");
                var texts = new List<string>();
                foreach (var turn in conversation.Dialog)
                {
                    if (turn?.Text is null) throw new InvalidDataException($"{path}: dialogue {index} has a turn without \"text\"");
                    var text = DailyDialog.NormaliseWhitespace(turn.Text);
                    if (text.Length > 0) texts.Add(text);
                }
                dialogues.Add(new Dialogue(texts));
                index++;
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not Wizard of Wikipedia JSON ({e.Message})", e);
        }
        return dialogues;
    }
}
