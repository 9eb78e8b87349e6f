"""The data converter of every client, worker and replayer: pydantic's, with one type-adapter
cache per process.

`temporalio.contrib.pydantic.pydantic_data_converter` converts through a payload converter
that caches a pydantic `TypeAdapter` per type; but the SDK makes a new data converter for
every workflow activation and activity, and with it a new payload converter with an empty
cache, so the adapters of `EnrollCustomer` and every other model were built again for each
activation. `DATA_CONVERTER` converts exactly as pydantic_data_converter does (same JSON both
ways) and makes its payload converter once per process; `functools.lru_cache`, which holds
the adapters, is safe to share between the worker's threads.
"""

from __future__ import annotations

from typing import ClassVar, Self

from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, SerializationContext


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """PydanticPayloadConverter, made once: every `payload_converter_class()` call returns it."""

    _made: ClassVar[SharedPydanticPayloadConverter | None] = None

    def __new__(cls) -> SharedPydanticPayloadConverter:
        if cls._made is None:
            made = super().__new__(cls)
            PydanticPayloadConverter.__init__(made)
            cls._made = made
        return cls._made

    def __init__(self) -> None:  # made once, in __new__
        pass

    def with_context(self, context: SerializationContext) -> Self:
        """Never changes the shared instance (none of pydantic's converters takes a context
        today; should one, it gets a converter of its own)."""
        converters = self.get_converters_with_context(context)
        if converters is None:
            return self
        own = object.__new__(type(self))
        PydanticPayloadConverter.__init__(own)
        own._set_converters(*converters)
        return own


DATA_CONVERTER = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)
