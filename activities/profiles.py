"""Profile activities: read a customer's profile for a run, apply an `update` step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import activity

from domain.contracts import (
    LOAD_PROFILE,
    UPDATE_PROFILE,
    LoadProfile,
    ProfileSnapshot,
    UpdateProfile,
)
from store.store import Store


class ProfileActivities:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    @activity.defn(name=LOAD_PROFILE)
    def load_profile(self, request: LoadProfile) -> ProfileSnapshot:
        return ProfileSnapshot(profile=self.store.customers.get(request.customer_id))

    @activity.defn(name=UPDATE_PROFILE)
    def update_profile(self, request: UpdateProfile) -> ProfileSnapshot:
        """Setting the same values again changes nothing, so a retry is harmless."""
        profile = self.store.customers.set_attributes(
            request.customer_id,
            request.set,
            add_tags=request.add_tags,
            remove_tags=request.remove_tags,
            now=self.clock(),
        )
        return ProfileSnapshot(profile=profile)
