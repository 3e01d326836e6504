"""The fast tier leaves out, without a list, every test that starts a sandbox."""

from __future__ import annotations

import pytest

SERVER = "Sandbox"  # spelled apart so that this test's own source starts nothing


def test_a_test_that_starts_a_sandbox_is_slow_unless_it_is_the_smoke(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('pytest_plugins = ("tests.plugins.tiers",)')
    pytester.makepyfile(
        test_tiered=f"""
        import pytest
        from kitta_notebook.sandbox import {SERVER}

        @pytest.fixture
        def server():
            with {SERVER}() as sb:
                yield sb

        def test_unit():
            pass

        def test_inline():
            with {SERVER}():
                pass

        def test_through_a_fixture(server):
            pass

        @pytest.mark.smoke
        def test_the_smoke():
            with {SERVER}():
                pass
        """
    )
    fast = pytester.runpytest("--fast", "--collect-only", "-q", "-p", "no:randomly")
    fast.stdout.fnmatch_lines(["*::test_unit", "*::test_the_smoke", "2/4 tests collected*"])
    assert "test_inline" not in fast.stdout.str()
    every = pytester.runpytest("-m", "slow", "--collect-only", "-q", "-p", "no:randomly")
    every.stdout.fnmatch_lines(["*::test_inline", "*::test_through_a_fixture", "2/4 *"])


CLUSTER = "postgres" + "_cluster"  # spelled apart, like SERVER


def test_a_test_on_the_postgres_cluster_is_slow(pytester: pytest.Pytester) -> None:
    """A database made on the throwaway cluster (`postgres_db`, `postgres_url`) starts one."""
    pytester.makeconftest(
        f"""
        import pytest
        pytest_plugins = ("tests.plugins.tiers",)

        @pytest.fixture(scope="session")
        def {CLUSTER}():
            return "cluster"

        @pytest.fixture
        def database({CLUSTER}):
            return {CLUSTER} + "/db"
        """
    )
    pytester.makepyfile(
        test_tiered="""
        def test_unit():
            pass

        def test_on_a_database(database):
            pass
        """
    )
    fast = pytester.runpytest("--fast", "--collect-only", "-q", "-p", "no:randomly")
    fast.stdout.fnmatch_lines(["*::test_unit", "1/2 tests collected*"])
