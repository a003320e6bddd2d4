"""Read the call: the signal as plain data, its parsers, number intelligence, the derived facts and which identity is trusted."""
