namespace TrgIlgpu;

/// <summary>
/// Writes a file so that readers see either the old content or the complete new one, never a partial write:
/// the data goes to a temporary file in the same folder, which is then renamed over the target.
/// </summary>
/// <remarks>
/// Every temporary file still open is known here, so that a process stopped at once (a second Ctrl-C in the CLI)
/// removes them all and renames nothing more (<see cref="AbortAll"/>): no <c>.tmp</c> file is left behind and no
/// target is replaced after the abort.
/// </remarks>
public static class AtomicFile
{
    private static readonly object Gate = new();
    private static readonly HashSet<string> OpenTemps = new(StringComparer.Ordinal);
    private static bool _aborted;

    /// <summary>
    /// Runs <paramref name="write"/> on a temporary file next to <paramref name="path"/> and renames it into place.
    /// On any failure the temporary file is deleted and the target is left as it was; I/O failures become
    /// TrgException(NotFound) naming the file.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        using var pending = new Pending(path);
        try
        {
            write(pending.Stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrgException(ErrorKind.NotFound, $"cannot write: {e.Message}", path, e);
        }
        pending.Commit();
    }

    /// <summary>An open temporary file that becomes <c>path</c> on <see cref="Commit"/>, or disappears on Dispose.</summary>
    public sealed class Pending : IDisposable
    {
        private readonly string _temp, _target, _path;
        private bool _committed;
        public Stream Stream { get; }

        /// <summary>Opens the temporary file; an unusable folder or target is a <see cref="TrgException"/> (NotFound) naming it.</summary>
        public Pending(string path)
        {
            _path = path;
            _target = Path.GetFullPath(path);
            if (Directory.Exists(_target)) throw new TrgException(ErrorKind.Usage, "is a folder; give a file name", path);
            var dir = Path.GetDirectoryName(_target)!;
            if (!Directory.Exists(dir)) throw new TrgException(ErrorKind.NotFound, "the output folder does not exist", dir);
            _temp = Path.Combine(dir, $".{Path.GetFileName(_target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            lock (Gate)
            {
                if (_aborted) throw new OperationCanceledException("the process is stopping: no file is written");
                try
                {
                    Stream = new FileStream(_temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new TrgException(ErrorKind.NotFound, $"cannot write: {e.Message}", path, e);
                }
                OpenTemps.Add(_temp);
            }
        }

        /// <summary>Flushes and renames the temporary file over the target (unless <see cref="AbortAll"/> ran).</summary>
        /// <param name="durable">
        /// Flush to the disk before the rename (true), so that after a crash the target holds the old or the new content.
        /// False for caches that check their entries when reading: the rename is still atomic for running readers.
        /// </param>
        public void Commit(bool durable = true)
        {
            try
            {
                Stream.Flush();
                if (durable) ((FileStream)Stream).Flush(flushToDisk: true);
                Stream.Dispose();
                lock (Gate)
                {
                    if (_aborted) throw new OperationCanceledException("the process is stopping: the file was not replaced");
                    File.Move(_temp, _target, overwrite: true);
                    OpenTemps.Remove(_temp);
                }
                _committed = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new TrgException(ErrorKind.NotFound, $"cannot write: {e.Message}", _path, e);
            }
        }

        public void Dispose()
        {
            if (_committed) return;
            Stream.Dispose();
            Forget(_temp);
        }
    }

    /// <summary>
    /// For a process about to exit at once: deletes every temporary file still open and makes every later commit throw
    /// <see cref="OperationCanceledException"/> (targets keep their old content). Cannot be undone.
    /// </summary>
    public static void AbortAll()
    {
        lock (Gate)
        {
            _aborted = true;
            foreach (var temp in OpenTemps) TryDelete(temp);
            OpenTemps.Clear();
        }
    }

    /// <summary>Registers a scratch file of the caller's (deleted by <see cref="AbortAll"/>); <see cref="Forget"/> deletes it.</summary>
    internal static void Track(string temp)
    {
        lock (Gate) OpenTemps.Add(temp);
    }

    /// <summary>Deletes a temporary or tracked scratch file and forgets it.</summary>
    internal static void Forget(string temp)
    {
        lock (Gate)
        {
            TryDelete(temp);
            OpenTemps.Remove(temp);
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
