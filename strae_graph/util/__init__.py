"""Helpers with no knowledge of StrAE: the one DGL import (with the GraphBolt
workaround), atomic file writes and hashes, NaN-safe JSON, progress bars, the
version.
Imports nothing of strae_graph."""
