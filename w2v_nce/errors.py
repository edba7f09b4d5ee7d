"""Exception types. Library code raises these; only the CLI turns them into exit codes."""


class W2VError(Exception):
    """Base class: a problem the user can fix. The message is one line and says what to do."""

    exit_code = 1


class UsageError(W2VError):
    """Bad arguments or settings (exit status 2 at the command line)."""

    exit_code = 2


class ConfigError(UsageError):
    """A setting is unknown, mistyped or out of range; the message names the key (and file)."""


class CorpusError(W2VError):
    """The corpus is missing, unreadable, empty, or yields no vocabulary."""


class FormatError(W2VError):
    """A file on disk (vectors, model, evaluation set) is malformed; names the file and line/record."""


class UnknownWordError(W2VError, KeyError):
    """Query words that have no vector; ``words`` lists them. Also a KeyError, as gensim's."""

    def __init__(self, words: list[str]):
        self.words = list(words)
        super().__init__(f"not in the vocabulary: {' '.join(self.words)}")

    __str__ = Exception.__str__  # KeyError's would quote the message


class OutputError(W2VError):
    """The output location cannot be used (not writable, not empty without --force, disk full)."""


class ResourceError(W2VError):
    """The run would need more memory than is available."""


class DivergenceError(W2VError):
    """Training produced NaN/Inf; names epoch, words done and learning rate."""


class ResumeError(W2VError):
    """A checkpoint cannot be resumed (missing, torn, or the corpus changed)."""


class Interrupted(W2VError):
    """Training stopped on SIGINT/SIGTERM after writing a resumable checkpoint."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class ClusterError(W2VError):
    """A distributed run cannot start: the cluster is unreachable, too small, or a node cannot
    read the corpus or hold a replica. Raised before training, with nothing written."""
