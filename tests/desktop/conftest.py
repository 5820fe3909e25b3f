"""The desktop tests' session fixture: a real virtual desktop (see ``session.py``).

Everything missing is a FAILURE, not a skip: ``.ci/run`` installs these packages, and a desktop
test that silently skips proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from session import Desktop, DesktopMissing, virtual_desktop


@pytest.fixture(scope="session")
def desktop() -> Iterator[Desktop]:
    try:
        with virtual_desktop() as session:
            yield session
    except DesktopMissing as exc:
        pytest.fail(str(exc))
