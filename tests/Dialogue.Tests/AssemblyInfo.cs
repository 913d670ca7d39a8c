using Xunit;

// Tests run one at a time, as in Vision.Tests. Whole training runs share libtorch's global generator, and two of them
// in parallel, each allocating hard, made TorchSharp's implicit Scalars fail twice under load: c10's "Expected false to
// be true" from Scalar::toLong/toFloat, a Scalar freed (finalised) while libtorch still read it. The two places seen
// now use explicit Scalars; fewer collections running at once makes the race rarer elsewhere too. It does not remove
// it: TorchSharp 0.107 does not keep a Scalar alive through its native call.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
