"""Data on disk and its order: the corpus reader and tokeniser, the vocabulary,
BPE pieces, bracket files, ``strae parse`` datasets, the epoch order and
streamed corpora.  Imports trees and util."""
