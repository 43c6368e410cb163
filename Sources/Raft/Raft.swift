// Raft module: see DESIGN.md.
