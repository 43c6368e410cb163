// EtcdServer module: see DESIGN.md.
