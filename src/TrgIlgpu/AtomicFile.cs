namespace TrgIlgpu;

/// <summary>
/// Writes a file so that readers see either the old content or the complete new one, never a partial write:
/// the data goes to a temporary file in the same folder, which is then renamed over the target.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Runs <paramref name="write"/> on a temporary file next to <paramref name="path"/> and renames it into place.
    /// On any failure the temporary file is deleted and the target is left as it was; I/O failures become
    /// TrgException(NotFound) naming the file.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new TrgException(ErrorKind.NotFound, "the output folder does not exist", dir);
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e)
        {
            TryDelete(temp);
            if (e is IOException or UnauthorizedAccessException)
                throw new TrgException(ErrorKind.NotFound, $"cannot write: {e.Message}", path, e);
            throw;
        }
    }

    /// <summary>An open temporary file that becomes <c>path</c> on <see cref="Commit"/>, or disappears on Dispose.</summary>
    public sealed class Pending : IDisposable
    {
        private readonly string _temp, _target;
        private bool _committed;
        public Stream Stream { get; }

        public Pending(string path)
        {
            _target = Path.GetFullPath(path);
            var dir = Path.GetDirectoryName(_target)!;
            if (!Directory.Exists(dir)) throw new TrgException(ErrorKind.NotFound, "the output folder does not exist", dir);
            _temp = Path.Combine(dir, $".{Path.GetFileName(_target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            Stream = new FileStream(_temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        }

        /// <param name="durable">
        /// Flush to the disk before the rename (true), so that after a crash the target holds the old or the new content.
        /// False for caches that check their entries when reading: the rename is still atomic for running readers.
        /// </param>
        public void Commit(bool durable = true)
        {
            Stream.Flush();
            if (durable) ((FileStream)Stream).Flush(flushToDisk: true);
            Stream.Dispose();
            File.Move(_temp, _target, overwrite: true);
            _committed = true;
        }

        public void Dispose()
        {
            if (_committed) return;
            Stream.Dispose();
            TryDelete(_temp);
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
