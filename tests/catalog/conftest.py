"""Fixtures of the catalog tests: stewards with object permissions, and categories by key."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.catalog.models import DataCategory, Dataset
from apps.catalog.stewardship import dataset_role_assign
from apps.common.models import User


@pytest.fixture
def category() -> Callable[[str], DataCategory]:
    def get(key: str) -> DataCategory:
        return DataCategory.objects.get(key=key)

    return get


@pytest.fixture
def steward_of(make_user: Callable[..., User]) -> Callable[..., User]:
    """A data steward (role) who stewards exactly the given datasets."""

    def make(*datasets: Dataset, **kwargs: object) -> User:
        user = make_user(role="data_steward", is_staff=True, **kwargs)
        for dataset in datasets:
            dataset_role_assign(dataset=dataset, user=user, role="steward", actor=None)
        return user

    return make
