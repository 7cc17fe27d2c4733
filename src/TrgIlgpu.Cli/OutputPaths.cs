namespace TrgIlgpu.Cli;

/// <summary>
/// Checks on output paths made before a command does any work: each output is usable (a file name in an existing,
/// writable folder, not a folder), and no output is an input or another output (compared as the file system resolves
/// them: symbolic links followed, letter case ignored where the OS ignores it).
/// </summary>
internal static class OutputPaths
{
    /// <summary>How this OS compares resolved paths: case-insensitive on Windows and macOS (their default file systems), exact elsewhere.</summary>
    public static StringComparer Comparer { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>
    /// Throws <see cref="TrgException"/> (<see cref="ErrorKind.Usage"/>) unless <paramref name="path"/> can take a new file:
    /// not a folder, in an existing folder (else NotFound) where a file can be created (else NotFound, with the reason).
    /// </summary>
    public static void CheckFile(string option, string path)
    {
        if (path.Length == 0) throw new TrgException(ErrorKind.Usage, $"{option}: the path is empty");
        if (Directory.Exists(path) || path.EndsWith('/') || path.EndsWith(Path.DirectorySeparatorChar))
            throw new TrgException(ErrorKind.Usage, $"{option} {path}: is a folder; give a file name");
        try
        {
            // Opening (and dropping) the temporary file the real write will use proves the folder takes a new file.
            new AtomicFile.Pending(path).Dispose();
        }
        catch (TrgException e)
        {
            throw new TrgException(e.Kind, $"{option}: {e.Message}", null, e);
        }
    }

    /// <summary>
    /// Throws <see cref="TrgException"/> (<see cref="ErrorKind.Usage"/>) naming both when an output is the same file as
    /// an input or as another output.
    /// </summary>
    public static void CheckDistinct(IEnumerable<(string What, string Path)> outputs, IEnumerable<(string What, string Path)> inputs)
    {
        var seen = new Dictionary<string, string>(Comparer);
        foreach (var (what, path) in inputs) seen.TryAdd(Resolve(path), what);
        foreach (var (what, path) in outputs)
        {
            var resolved = Resolve(path);
            if (seen.TryGetValue(resolved, out var other))
                throw new TrgException(ErrorKind.Usage, $"{what} and {other} are the same file ({resolved}); writing one would destroy the other");
            seen.Add(resolved, what);
        }
    }

    /// <summary>
    /// The absolute path with every symbolic link on the way resolved (like realpath); components that do not exist
    /// yet are kept as written.
    /// </summary>
    public static string Resolve(string path) => Resolve(path, depth: 0);

    private static string Resolve(string path, int depth)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full)!;
        var current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is not null && depth < 40)
            {
                try
                {
                    // The target may itself sit under links: resolve it again (bounded, so a loop ends).
                    if (info.ResolveLinkTarget(returnFinalTarget: true) is { } target) next = Resolve(target.FullName, depth + 1);
                }
                catch (IOException) { } // a link loop: compare the path as written
            }
            current = next;
        }
        return current;
    }
}
