using TrgIlgpu.Model;

namespace TrgIlgpu.Formats;

/// <summary>A state dict read from a checkpoint file: tensors in file order, where they came from, what was adjusted.</summary>
public sealed class StateDict
{
    public required List<HostTensor> Tensors { get; init; }
    /// <summary>What the file says about itself (format, archive name, safetensors metadata...).</summary>
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }
    /// <summary>Things done while reading, worth telling the user (nested key used, prefixes stripped...).</summary>
    public required List<string> Notes { get; init; }
    public required long FileBytes { get; init; }
}

/// <summary>
/// Reads a state dict from whatever checkpoint the user has: a PyTorch zip checkpoint (state_dict.bin/.pt/.pth, the
/// state dict at the top level or under 'state_dict'/'model') or a safetensors state dict. DataParallel 'module.'
/// prefixes are stripped. The legacy (pre-1.6) torch format is refused with instructions.
/// </summary>
public static class Checkpoint
{
    private const string ModulePrefix = "module.";

    /// <summary>Reads the state dict of a checkpoint or safetensors file within <paramref name="limits"/> (default:
    /// <see cref="InputLimits.Default"/>). Errors: NotFound, InvalidModel, UnsafeCheckpoint, each naming the file.</summary>
    public static StateDict ReadStateDict(string path, InputLimits? limits = null)
    {
        limits ??= InputLimits.Default;
        if (!File.Exists(path)) throw new TrgException(ErrorKind.NotFound, "file not found", path);
        StateDict raw;
        FileStream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (IOException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
        catch (UnauthorizedAccessException e) { throw new TrgException(ErrorKind.NotFound, $"cannot read: {e.Message}", path, e); }
        using (file)
        {
            if (file.Length > limits.MaxModelBytes)
                throw new TrgException(ErrorKind.InvalidModel,
                    $"{file.Length} bytes is over the model file limit of {limits.MaxModelBytes} bytes (InputLimits.MaxModelBytes)", path);
            Span<byte> head = stackalloc byte[8];
            int got = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            file.Position = 0;
            switch (Sniff(head[..got], path))
            {
                case Kind.Zip:
                    raw = TorchCheckpoint.Read(path, file, limits);
                    break;
                case Kind.SafeTensors:
                    file.Dispose();
                    var (tensors, metadata) = SafeTensors.Read(path, limits);
                    var md = new Dictionary<string, string>(metadata) { ["format"] = metadata.GetValueOrDefault("format", "safetensors") };
                    raw = new StateDict { Tensors = tensors.Values.ToList(), Metadata = md, Notes = [], FileBytes = new FileInfo(path).Length };
                    break;
                case Kind.LegacyTorch:
                    throw new TrgException(ErrorKind.InvalidModel,
                        "legacy PyTorch serialization format (torch < 1.6 or _use_new_zipfile_serialization=False) is not supported, " +
                        "re-save with torch>=1.6: torch.save(torch.load(f, map_location='cpu'), 'state_dict.pt') in a trusted environment", path);
                default:
                    throw new TrgException(ErrorKind.InvalidModel, "not a PyTorch zip checkpoint nor a safetensors file", path);
            }
        }
        return StripModulePrefix(raw, path);
    }

    private enum Kind { Zip, SafeTensors, LegacyTorch, Unknown }

    private static Kind Sniff(ReadOnlySpan<byte> head, string path)
    {
        if (head.Length >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] is 3 or 5) return Kind.Zip;
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return Kind.SafeTensors;
        // Legacy torch files start with a protocol-2 pickle of a LONG1 magic number: 80 02 8a 0a.
        if (head.Length >= 4 && head[0] == 0x80 && head[1] == 2 && head[2] == 0x8a && head[3] == 0x0a) return Kind.LegacyTorch;
        // A safetensors file has no magic; its first byte after the u64 length is the JSON '{'.
        return head.Length == 8 && BitConverter.ToUInt64(head) is > 1 and < SafeTensors.MaxHeaderBytes ? Kind.SafeTensors : Kind.Unknown;
    }

    private static StateDict StripModulePrefix(StateDict sd, string path)
    {
        int stripped = 0;
        var names = new HashSet<string>();
        var tensors = new List<HostTensor>(sd.Tensors.Count);
        foreach (var t in sd.Tensors)
        {
            var name = t.Name;
            while (name.StartsWith(ModulePrefix, StringComparison.Ordinal)) { name = name[ModulePrefix.Length..]; stripped++; }
            if (!names.Add(name)) throw new TrgException(ErrorKind.InvalidModel, $"key '{name}' appears twice once 'module.' prefixes are removed", path);
            tensors.Add(name == t.Name ? t : t.Rename(name));
        }
        if (stripped > 0) sd.Notes.Add($"stripped the DataParallel 'module.' prefix from {stripped} keys");
        return new StateDict { Tensors = tensors, Metadata = sd.Metadata, Notes = sd.Notes, FileBytes = sd.FileBytes };
    }
}
