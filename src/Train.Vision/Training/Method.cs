namespace Decomp.Train.Vision.Training;

/// <summary>How negatives reach the contrastive bound.</summary>
internal enum Framework
{
    /// <summary>MoCo-v2: keys y from a momentum-averaged encoder, negatives from a queue of K past keys.</summary>
    MoCo,

    /// <summary>SimCLR: both views through one encoder, negatives from the rest of the batch, loss symmetrised over the two views.</summary>
    SimClr,
}

/// <summary>What the encoder is trained to maximise.</summary>
internal enum ObjectiveKind
{
    /// <summary>I_NCE(x'; y): the standard contrastive baseline (the paper's lambda = 1).</summary>
    InfoNce,

    /// <summary>lam I_NCE(x'; y) + (1 - lam) (I_NCE(x''; y) + I_IS(x'; y | x'')): the paper's decomposition.</summary>
    Decomposed,

    /// <summary>lam I_NCE(x'; y) + (1 - lam) I_NCE(x''; y): the extra view without the conditional term (the paper's ablation).</summary>
    DecomposedWithoutConditional,
}

/// <summary>How the information-restricted view x'' is cut out of x'.</summary>
internal enum RestrictedViewKind
{
    /// <summary>An aggressive random resized crop of x' (area scale 0.05-0.14), resized to a smaller side.</summary>
    Crop,

    /// <summary>x' with a square patch blanked out (cutout).</summary>
    Cut,
}
