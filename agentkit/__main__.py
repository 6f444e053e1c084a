"""`python -m agentkit`: the same as the `agentkit` command."""

from .cli import main

if __name__ == "__main__":
    main()
