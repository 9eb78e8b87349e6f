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
from domain.customers import CustomerProfile
from store.store import Store


class ProfileActivities:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    @activity.defn(name=LOAD_PROFILE)
    def load_profile(self, request: LoadProfile) -> ProfileSnapshot:
        return ProfileSnapshot(
            profile=self._with_metrics(self.store.customers.get(request.customer_id))
        )

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
        return ProfileSnapshot(profile=self._with_metrics(profile))

    def _with_metrics(self, profile: CustomerProfile | None) -> CustomerProfile | None:
        """The profile with its projection row (tier, stage, RFM, churn risk), if built."""
        if profile is None:
            return None
        metrics = self.store.projections.get(profile.customer_id)
        if metrics is None:
            return profile
        return profile.model_copy(update={"metrics": metrics.model_dump(mode="json")})
