"""The suite's own settings (pyproject.toml's ``[tool.pytest.ini_options]``)."""

from __future__ import annotations

import warnings

import pytest


@pytest.mark.parametrize("category", [UserWarning, DeprecationWarning, ResourceWarning])
def test_a_warning_fails_the_test_that_raised_it(category):
    """``filterwarnings = ["error"]``: a deprecation or an unclosed file is found when it
    appears, not in a summary line nobody reads (ResourceWarning is silent by default)."""
    with pytest.raises(category):
        warnings.warn("raised as an error in this suite", category, stacklevel=1)
