using Xunit;

// Tests run one at a time. TorchSharp 0.107's implicit Scalars (`t.mul_(0.9)`, inside its optimizers too) pass their
// native handle on and are then unreachable, so a garbage collection that another thread starts during the native call
// can finalize (free) the Scalar while libtorch reads it: "Unknown scalar type" (open upstream: dotnet/TorchSharp#1434, #1496). Tests
// training in parallel are such threads; one at a time, nothing else allocates while a test trains.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
