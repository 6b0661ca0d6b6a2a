"""Commands added as their library parts land."""


def register(sub) -> None:
    return None
