from tests.integration.replay.support import run_replay

__all__ = ["run_replay"]
