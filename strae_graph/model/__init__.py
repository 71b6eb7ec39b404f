"""The model: its configuration (defaults and checks), compose and decompose
functions of both families, StrAE's passes, the objectives and their losses
(their precision and buffers), the memory check, and Self-StrAE's merge loop.
Imports graph, trees and util."""
