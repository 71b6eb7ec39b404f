"""``strae bench``: its settings, the cases, how a step is timed, the report.  Imports
training, model, graph, data, trees and util."""
