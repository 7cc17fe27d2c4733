namespace TrgIlgpu.Formats;

/// <summary>Writes a file all-or-nothing: into a temporary file in the same folder, then renamed over the target.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Runs <paramref name="write"/> on a temporary file next to <paramref name="path"/> and renames it into place.
    /// On any failure the temporary file is deleted and the target is left as it was.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new TrgException(ErrorKind.NotFound, "output folder does not exist", path);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (e is IOException or UnauthorizedAccessException)
                throw new TrgException(ErrorKind.NotFound, $"cannot write: {e.Message}", path, e);
            throw;
        }
    }
}
