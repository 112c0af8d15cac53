"""Generation: a local GGUF model answering from numbered sources under a citation grammar."""
