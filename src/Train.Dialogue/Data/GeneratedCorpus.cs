using Decomp.Apps;
namespace Decomp.Dialogue.Data;

/// <summary>
/// The default corpus: two-speaker chats whose later turns depend on a latent topic that the recent utterance
/// does not reveal. Every dialogue runs
/// <list type="number">
/// <item>A opens with what they did (the topic), when, and with whom (a companion);</item>
/// <item>B reacts generically;</item>
/// <item>one to three more utterances of small talk that carry no trace of the topic (A fillers, B replies);</item>
/// <item>two to five topic turns, speakers still alternating: A tells more about the outing (topic-specific,
/// sometimes naming the companion again); B asks a topic question or reacts generically (the first topic turn is
/// always topic-specific).</item>
/// </list>
/// With at most four generic utterances in a row after the opening, every past window of five utterances holds a
/// topic-specific utterance, so the latent is always readable from x&lt;=k.
/// Generic utterances are drawn from pools shared by all topics, independently of the topic, so for a split
/// point k inside the small talk the future x&gt;k depends on the past x&lt;=k through the topic while x_k says
/// nothing about it: I(x&lt;=k; x&gt;k | x_k) &gt; 0 by construction. The topic is the latent class a probe reads
/// from f(x&lt;=k). Output depends only on the counts and the seed.
/// </summary>
public static class GeneratedCorpus
{
    /// <summary>The corpus name used in logs and metrics.</summary>
    public const string Name = "generated";

    private sealed record Topic(string Name, string[] Openings, string[] Statements, string[] Questions);

    private static readonly string[] Whens = ["yesterday", "last weekend", "saturday", "this morning", "last sunday"];

    private static readonly string[] Companions = ["sister", "brother", "friend", "dad", "mom", "cousin"];

    private static readonly Topic[] Topics =
    [
        new("hiking",
            ["i went hiking in the mountains {when} with my {companion} .",
             "{when} my {companion} and i climbed a steep trail up the hill .",
             "i spent {when} walking the forest trails with my {companion} ."],
            ["the view from the top was amazing .", "my {companion} carried the map the whole way .",
             "we saw a deer near the river .", "my boots were covered in mud by noon .",
             "the trail was longer than we thought .", "we ate sandwiches at the summit .",
             "it rained a little on the way down .", "my legs still hurt from all that climbing ."],
            ["how long was the trail ?", "did you reach the summit ?", "were there many other hikers ?",
             "did your {companion} enjoy the climb ?", "was the path very steep ?"]),
        new("cooking",
            ["i cooked a big dinner {when} with my {companion} .",
             "{when} my {companion} and i tried a new recipe at home .",
             "i spent {when} in the kitchen baking with my {companion} ."],
            ["we made fresh pasta with tomato sauce .", "my {companion} chopped all the onions .",
             "the bread came out of the oven golden .", "we burned the first batch of cookies .",
             "the soup needed more salt and pepper .", "we used basil from the window box .",
             "dessert was a chocolate cake with cream .", "the whole kitchen smelled of garlic ."],
            ["what did you cook first ?", "was the recipe hard ?", "did the cake rise properly ?",
             "did your {companion} like the food ?", "how long did it take to bake ?"]),
        new("football",
            ["i played football in the park {when} with my {companion} .",
             "{when} my {companion} and i joined a football match .",
             "i watched a football game at the stadium {when} with my {companion} ."],
            ["our team scored two goals in the second half .", "my {companion} was the goalkeeper .",
             "the referee gave a penalty in the last minute .", "the crowd was singing the whole match .",
             "i kicked the ball over the fence twice .", "the pitch was wet and slippery .",
             "we lost three to one in the end .", "the striker ran past every defender ."],
            ["who won the match ?", "did you score a goal ?", "was the stadium full ?",
             "did your {companion} play in defence ?", "what was the final score ?"]),
        new("concert",
            ["i went to a rock concert {when} with my {companion} .",
             "{when} my {companion} and i saw a band play live .",
             "i spent {when} at a music festival with my {companion} ."],
            ["the drummer played a long solo .", "my {companion} knew every song by heart .",
             "the guitar was so loud my ears rang .", "they played our favourite song last .",
             "we stood right in front of the stage .", "the singer threw her guitar pick to the crowd .",
             "the lights and the music were amazing .", "we bought a band shirt after the show ."],
            ["which band was playing ?", "was the music loud ?", "did they play your favourite song ?",
             "did your {companion} dance ?", "how long was the show ?"]),
        new("beach",
            ["i went to the beach {when} with my {companion} .",
             "{when} my {companion} and i drove to the sea .",
             "i spent {when} swimming in the ocean with my {companion} ."],
            ["the water was cold but clear .", "my {companion} built a huge sand castle .",
             "we collected shells along the shore .", "i got sunburned on my shoulders .",
             "the waves were perfect for surfing .", "we ate ice cream on the pier .",
             "a seagull stole my sandwich .", "we watched the sunset over the water ."],
            ["was the water warm ?", "did you go swimming ?", "were the waves big ?",
             "did your {companion} swim too ?", "was the beach crowded ?"]),
        new("museum",
            ["i visited the history museum {when} with my {companion} .",
             "{when} my {companion} and i went to an art gallery .",
             "i spent {when} looking at old paintings with my {companion} ."],
            ["we saw a real dinosaur skeleton .", "my {companion} read every single label .",
             "the paintings in the main hall were huge .", "there was an exhibit about ancient egypt .",
             "the guide told us stories about the statues .", "we bought postcards in the gift shop .",
             "one room was full of old coins and swords .", "the building itself was very old and grand ."],
            ["which exhibit did you like most ?", "was the museum crowded ?", "did you take a tour ?",
             "did your {companion} enjoy the paintings ?", "how many rooms did you see ?"]),
        new("gardening",
            ["i worked in the garden {when} with my {companion} .",
             "{when} my {companion} and i planted vegetables in the yard .",
             "i spent {when} pulling weeds with my {companion} ."],
            ["we planted tomatoes and carrots .", "my {companion} watered all the flowers .",
             "the roses are finally blooming .", "we dug a new bed for the herbs .",
             "my hands were full of soil .", "the apple tree needs pruning soon .",
             "we found a big worm in the compost .", "the lettuce grew faster than expected ."],
            ["what did you plant ?", "are the tomatoes ripe yet ?", "did you water everything ?",
             "did your {companion} help with the digging ?", "how big is the garden ?"]),
        new("fishing",
            ["i went fishing at the lake {when} with my {companion} .",
             "{when} my {companion} and i took a boat out to fish .",
             "i spent {when} fishing by the river with my {companion} ."],
            ["we caught three trout before lunch .", "my {companion} untangled the fishing line .",
             "the boat rocked in the wind .", "i lost my best hook on a rock .",
             "the fish were biting early at dawn .", "we used worms as bait .",
             "the biggest fish got away at the last second .", "we cooked the fish over a fire ."],
            ["did you catch anything ?", "how big was the fish ?", "what bait did you use ?",
             "did your {companion} catch more than you ?", "was the lake calm ?"]),
    ];

    /// <summary>B's generic reactions (any topic).</summary>
    private static readonly string[] Reactions =
    [
        "oh , nice .", "really ?", "that sounds fun .", "tell me more .", "wow .", "i see .", "cool , and then ?",
        "how was it ?", "sounds like a good time .", "nice , i am a bit jealous .", "haha , go on .", "that is great .",
    ];

    /// <summary>A's small talk that carries no trace of the topic.</summary>
    private static readonly string[] Fillers =
    [
        "yes , it was a long day .", "well , you know how it is .", "anyway , how is your week going ?",
        "it was fine , nothing special at first .", "let me think , where was i ?", "oh , sorry , my phone rang .",
        "sure , it is a long story .", "honestly , i was tired .", "ha , yes .", "right , so .",
    ];

    /// <summary>B's replies to small talk.</summary>
    private static readonly string[] Replies =
    [
        "pretty good , thanks .", "busy as always .", "no problem , go on .", "i know what you mean .",
        "take your time .", "same here , to be honest .", "ok .", "sure .", "i am listening .", "fair enough .",
    ];

    /// <summary>The latent classes (topics), in class-index order.</summary>
    public static IReadOnlyList<string> TopicNames { get; } = Topics.Select(t => t.Name).ToArray();

    /// <summary>Every utterance the generator can emit whose text does not depend on the topic.</summary>
    public static IReadOnlyList<string> GenericUtterances { get; } = Reactions.Concat(Fillers).Concat(Replies).Distinct().ToArray();

    /// <summary>
    /// Per topic, the words that occur in its templates and nowhere else: not in another topic's templates, not in
    /// the generic pools, not in the time or companion slot fillers. Such a word identifies the topic.
    /// </summary>
    public static IReadOnlyList<IReadOnlySet<string>> TopicOnlyWords { get; } = ComputeTopicOnlyWords();

    /// <summary>
    /// Generates the three splits, each from its own random stream of <paramref name="seed"/> (so the training split
    /// does not change when the validation size does).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is not positive.</exception>
    public static DialogueCorpus Generate(int trainDialogues, int validDialogues, int testDialogues, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(trainDialogues);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(validDialogues);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(testDialogues);
        List<Dialogue> Split(int count, int stream)
        {
            var random = SplitMix64.ForStream(seed, stream);
            // Topics are dealt out evenly (i mod K over a random permutation), so every split is balanced up to one dialogue.
            var order = random.Permutation(count);
            return order.Select(i => GenerateDialogue(random, i % Topics.Length)).ToList();
        }
        return new DialogueCorpus(Name, Split(trainDialogues, 0), Split(validDialogues, 1), Split(testDialogues, 2), TopicNames);
    }

    /// <summary>One dialogue about topic <paramref name="latent"/>, drawn with <paramref name="random"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="latent"/> is not a topic index.</exception>
    public static Dialogue GenerateDialogue(SplitMix64 random, int latent)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(latent);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(latent, Topics.Length);
        var topic = Topics[latent];
        var when = random.Choose(Whens);
        var companion = random.Choose(Companions);
        string Fill(string template) => template.Replace("{when}", when).Replace("{companion}", companion);

        var utterances = new List<string>();
        var reveals = new List<bool>();
        void Say(string text, bool revealsTopic)
        {
            utterances.Add(text);
            reveals.Add(revealsTopic);
        }

        bool SpeakerA() => utterances.Count % 2 == 0;

        Say(Fill(random.Choose(topic.Openings)), true);
        Say(random.Choose(Reactions), false);
        int smallTalk = random.NextInt(1, 3);
        var fillers = random.Permutation(Fillers.Length);
        var replies = random.Permutation(Replies.Length);
        for (int i = 0; i < smallTalk; i++)
            Say(SpeakerA() ? Fillers[fillers[i]] : Replies[replies[i]], false);
        int topicTurns = random.NextInt(2, 5);
        var statements = random.Permutation(topic.Statements.Length);
        for (int i = 0, stated = 0; i < topicTurns; i++)
        {
            if (SpeakerA()) Say(Fill(topic.Statements[statements[stated++]]), true);
            else if (i == 0 || random.NextDouble() < 0.5) Say(Fill(random.Choose(topic.Questions)), true);
            else Say(random.Choose(Reactions), false);
        }
        return new Dialogue(utterances, latent, reveals);
    }

    private static IReadOnlyList<IReadOnlySet<string>> ComputeTopicOnlyWords()
    {
        static IEnumerable<string> Words(string s) => s.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var perTopic = Topics.Select(t => t.Openings.Concat(t.Statements).Concat(t.Questions)
                                          .SelectMany(Words).Where(w => !w.StartsWith('{')).ToHashSet()).ToArray();
        var shared = GenericUtterances.Concat(Whens).Concat(Companions).SelectMany(Words).ToHashSet();
        return perTopic.Select((words, i) => (IReadOnlySet<string>)words
            .Where(w => !shared.Contains(w) && !perTopic.Where((_, j) => j != i).Any(o => o.Contains(w))).ToHashSet()).ToArray();
    }
}
