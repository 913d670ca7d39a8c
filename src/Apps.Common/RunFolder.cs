namespace Decomp.Apps;

/// <summary>A run folder is already owned by another process.</summary>
public sealed class RunFolderInUseException(string folder, int? owner)
    : IOException($"{folder} is in use by {(owner is { } pid ? $"process {pid}" : "another process")}; use another --output, or wait for that run to end.")
{
    /// <summary>The folder.</summary>
    public string Folder { get; } = folder;
    /// <summary>The process that holds it, when it said so.</summary>
    public int? Owner { get; } = owner;
}

/// <summary>
/// A run's output folder, owned by one process at a time: two runs writing one folder would compute the same work twice
/// and overwrite each other's records. Ownership is an advisory lock (flock on Unix, a sharing lock on Windows) on a
/// lock file inside the folder, held until <see cref="Dispose"/> or the process ends, even by a kill: the operating
/// system drops it, so a crashed run never leaves the folder locked. On acquiring it, temporary files that killed
/// writers left behind (<see cref="AtomicFile.TemporarySuffix"/>) are removed.
/// </summary>
public sealed class RunFolder : IDisposable
{
    /// <summary>The lock file's name inside the folder.</summary>
    public const string LockFileName = ".decomp.lock";
    /// <summary>The file in which the owner writes its process id (the lock file itself cannot be read while held).</summary>
    public const string OwnerFileName = ".decomp.owner";

    private readonly FileStream _lock;

    private RunFolder(string path, FileStream @lock)
    {
        Path = path;
        _lock = @lock;
    }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    /// <summary>A file inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Creates <paramref name="folder"/> if needed and takes ownership of it.</summary>
    /// <exception cref="RunFolderInUseException">Another process owns the folder.</exception>
    public static RunFolder Acquire(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        var full = System.IO.Path.GetFullPath(folder);
        Directory.CreateDirectory(full);
        FileStream stream;
        try
        {
            stream = new FileStream(System.IO.Path.Combine(full, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (!OperatingSystem.IsWindows() || System.IO.File.Exists(System.IO.Path.Combine(full, LockFileName)))
        {
            throw new RunFolderInUseException(full, ReadOwner(full));
        }
        AtomicFile.WriteAllText(System.IO.Path.Combine(full, OwnerFileName), Environment.ProcessId + "\n");
        foreach (var leftover in Directory.EnumerateFiles(full, "*" + AtomicFile.TemporarySuffix, SearchOption.AllDirectories))
            System.IO.File.Delete(leftover);
        return new RunFolder(full, stream);
    }

    private static int? ReadOwner(string folder)
    {
        try
        {
            return int.TryParse(System.IO.File.ReadAllText(System.IO.Path.Combine(folder, OwnerFileName)).Trim(), out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Gives the folder up.</summary>
    public void Dispose() => _lock.Dispose();
}
