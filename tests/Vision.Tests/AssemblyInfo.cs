using Xunit;

// Module constructors and some tests draw from libtorch's global generator; tests run one at a time so that a seeded
// construction in one test is never interleaved with draws in another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
