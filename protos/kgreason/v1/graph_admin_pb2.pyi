from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Triple(_message.Message):
    __slots__ = ("head", "relation", "tail")
    HEAD_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    head: str
    relation: str
    tail: str
    def __init__(self, head: _Optional[str] = ..., relation: _Optional[str] = ..., tail: _Optional[str] = ...) -> None: ...

class EntityText(_message.Message):
    __slots__ = ("id", "name", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class LoadOptions(_message.Message):
    __slots__ = ("dataset", "split")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    split: str
    def __init__(self, dataset: _Optional[str] = ..., split: _Optional[str] = ...) -> None: ...

class LoadTriplesRequest(_message.Message):
    __slots__ = ("options", "triples", "entities")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TRIPLES_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    options: LoadOptions
    triples: _containers.RepeatedCompositeFieldContainer[Triple]
    entities: _containers.RepeatedCompositeFieldContainer[EntityText]
    def __init__(self, options: _Optional[_Union[LoadOptions, _Mapping]] = ..., triples: _Optional[_Iterable[_Union[Triple, _Mapping]]] = ..., entities: _Optional[_Iterable[_Union[EntityText, _Mapping]]] = ...) -> None: ...

class LoadTriplesResponse(_message.Message):
    __slots__ = ("triples_written", "entities_created", "graph_version")
    TRIPLES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_CREATED_FIELD_NUMBER: _ClassVar[int]
    GRAPH_VERSION_FIELD_NUMBER: _ClassVar[int]
    triples_written: int
    entities_created: int
    graph_version: int
    def __init__(self, triples_written: _Optional[int] = ..., entities_created: _Optional[int] = ..., graph_version: _Optional[int] = ...) -> None: ...

class GetGraphInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GraphInfo(_message.Message):
    __slots__ = ("entities", "relationships", "relation_types", "graph_version")
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    RELATION_TYPES_FIELD_NUMBER: _ClassVar[int]
    GRAPH_VERSION_FIELD_NUMBER: _ClassVar[int]
    entities: int
    relationships: int
    relation_types: int
    graph_version: int
    def __init__(self, entities: _Optional[int] = ..., relationships: _Optional[int] = ..., relation_types: _Optional[int] = ..., graph_version: _Optional[int] = ...) -> None: ...
