using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Decomp.Apps;

/// <summary>
/// The tensors of a checkpoint that <see cref="CheckpointFile.Save"/> writes, by name, in the order added. Tensors made
/// for the checkpoint (copies, handles, serialised state) belong to the dispose scope that <see cref="CheckpointFile.Save"/>
/// opens, and are released once the file is written; a model's own parameters and buffers are only read.
/// </summary>
public sealed class CheckpointTensors
{
    private readonly List<KeyValuePair<string, Tensor>> items = new();

    internal CheckpointTensors() { }

    internal IReadOnlyList<KeyValuePair<string, Tensor>> Items => items;

    /// <summary>Adds <paramref name="tensor"/> as <paramref name="name"/>.</summary>
    public void Add(string name, Tensor tensor)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(tensor);
        items.Add(new(name, tensor));
    }

    /// <summary>Adds every entry of <paramref name="module"/>'s state dictionary (parameters and buffers) as <c>{prefix}{name}</c>; <see cref="SafeTensorsFile.CopyInto"/> restores them.</summary>
    public void Add(string prefix, nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(module);
        foreach (var (name, tensor) in module.state_dict()) Add(prefix + name, tensor);
    }

    /// <summary>
    /// Adds <paramref name="optimizer"/>'s state (its moments, step counts and parameter groups, as TorchSharp serialises
    /// them) as the uint8 tensor <paramref name="name"/>; <see cref="SafeTensorsFile.ReadInto"/> restores it.
    /// </summary>
    public void Add(string name, OptimizerHelper optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(writer);
        Add(name, tensor(buffer.ToArray()));
    }
}
