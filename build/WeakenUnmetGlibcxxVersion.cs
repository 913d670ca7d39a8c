// Compiled by MSBuild's RoslynCodeTaskFactory from Decomp.NativeShim.targets; see that file for why this exists.
using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenUnmetGlibcxxVersion : Task
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string Version { get; set; } = "";

    public override bool Execute()
    {
        var runtime = LoadedLibstdcxx();
        if (runtime == null)
        {
            Log.LogMessage(MessageImportance.Low, "Decomp: no libstdc++ mapped in this process; leaving TorchSharp's shim as it is.");
            return true;
        }
        var defined = File.ReadAllBytes(runtime);
        foreach (var item in Libraries)
        {
            var path = item.ItemSpec;
            var elf = File.ReadAllBytes(path);
            var unmet = RequiredLibstdcxxVersions(elf).Where(v => !Defines(defined, v.Name)).ToList();
            var others = unmet.Where(v => v.Name != Version).Select(v => v.Name).ToList();
            if (others.Count > 0)
                Log.LogWarning("Decomp: {0} needs {1} from libstdc++, which {2} lacks; only {3} is known to be safe to weaken, so it may still fail to load.",
                               path, string.Join(", ", others), runtime, Version);
            var target = unmet.FirstOrDefault(v => v.Name == Version);
            if (target == null || (BitConverter.ToUInt16(elf, target.FlagsOffset) & VerFlgWeak) != 0)
                continue;
            var flags = (ushort)(BitConverter.ToUInt16(elf, target.FlagsOffset) | VerFlgWeak);
            BitConverter.GetBytes(flags).CopyTo(elf, target.FlagsOffset);
            WriteAtomically(path, elf);
            Log.LogMessage(MessageImportance.High, "Decomp: {0} is not defined by {1}; marked it weak in {2}.", Version, runtime, path);
        }
        return !Log.HasLoggedErrors;
    }

    sealed class Requirement
    {
        public string Name = "";
        public int FlagsOffset;
    }

    // The libstdc++ that this very process runs on is the one the built program will load on this machine.
    static string LoadedLibstdcxx()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) return null;
        return File.ReadLines(maps)
                   .Select(line => line.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries))
                   .Where(cols => cols.Length >= 6 && Path.GetFileName(cols[5]).StartsWith("libstdc++.so", StringComparison.Ordinal))
                   .Select(cols => cols[5])
                   .FirstOrDefault(File.Exists);
    }

    static bool Defines(byte[] library, string version)
    {
        var needle = Encoding.ASCII.GetBytes(version + "\0");
        for (int i = 0; i + needle.Length <= library.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && library[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }

    // Walks .gnu.version_r (Elf64_Verneed / Elf64_Vernaux) for the entries that name libstdc++.so.6.
    static Requirement[] RequiredLibstdcxxVersions(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F'
            || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a 64-bit little-endian ELF file");
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        var found = new System.Collections.Generic.List<Requirement>();
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = BitConverter.ToInt64(elf, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 0x28);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strtab = BitConverter.ToInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);
            long need = offset;
            for (int n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                string file = CString(elf, strtab + BitConverter.ToUInt32(elf, (int)need + 4));
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    if (file.StartsWith("libstdc++.so", StringComparison.Ordinal))
                        found.Add(new Requirement
                        {
                            Name = CString(elf, strtab + BitConverter.ToUInt32(elf, (int)aux + 8)),
                            FlagsOffset = (int)aux + 4,
                        });
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                need += BitConverter.ToUInt32(elf, (int)need + 12);
            }
        }
        return found.ToArray();
    }

    static string CString(byte[] bytes, long at)
    {
        int end = Array.IndexOf(bytes, (byte)0, (int)at);
        return Encoding.ASCII.GetString(bytes, (int)at, end - (int)at);
    }

    // Same size and timestamp as the file it replaces, so MSBuild's incremental copy sees nothing to refresh.
    static void WriteAtomically(string path, byte[] contents)
    {
        var stamp = File.GetLastWriteTimeUtc(path);
        var temp = path + ".decomp-tmp";
        File.WriteAllBytes(temp, contents);
        File.SetLastWriteTimeUtc(temp, stamp);
        File.Replace(temp, path, null); // rename(2) on Unix: readers see the old or the new file, never half of one
    }
}
