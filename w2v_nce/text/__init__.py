"""① Bytes to tokens: corpus files and streams, byte-range parts, UTF-8 checks, read-ahead."""
