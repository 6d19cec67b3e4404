from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    SUPPORTED: _ClassVar[Verdict]
    REFUTED: _ClassVar[Verdict]
    NOT_ENOUGH_INFO: _ClassVar[Verdict]
VERDICT_UNSPECIFIED: Verdict
SUPPORTED: Verdict
REFUTED: Verdict
NOT_ENOUGH_INFO: Verdict

class Claim(_message.Message):
    __slots__ = ("subject", "predicate", "object", "context_text")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PREDICATE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_TEXT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    predicate: str
    object: str
    context_text: str
    def __init__(self, subject: _Optional[str] = ..., predicate: _Optional[str] = ..., object: _Optional[str] = ..., context_text: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("request_id", "claim", "max_evidence_paths", "timeout_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    MAX_EVIDENCE_PATHS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    claim: Claim
    max_evidence_paths: int
    timeout_ms: int
    def __init__(self, request_id: _Optional[str] = ..., claim: _Optional[_Union[Claim, _Mapping]] = ..., max_evidence_paths: _Optional[int] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class PathStep(_message.Message):
    __slots__ = ("source", "relation", "target", "forward")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    FORWARD_FIELD_NUMBER: _ClassVar[int]
    source: Entity
    relation: str
    target: Entity
    forward: bool
    def __init__(self, source: _Optional[_Union[Entity, _Mapping]] = ..., relation: _Optional[str] = ..., target: _Optional[_Union[Entity, _Mapping]] = ..., forward: bool = ...) -> None: ...

class EvidencePath(_message.Message):
    __slots__ = ("steps", "score")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[PathStep]
    score: float
    def __init__(self, steps: _Optional[_Iterable[_Union[PathStep, _Mapping]]] = ..., score: _Optional[float] = ...) -> None: ...

class ClaimError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    field: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("request_id", "verdict", "probability", "threshold", "subject", "object", "predicate", "claim_asserted_in_graph", "evidence", "graph_version", "error", "latency_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    PREDICATE_FIELD_NUMBER: _ClassVar[int]
    CLAIM_ASSERTED_IN_GRAPH_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    GRAPH_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    verdict: Verdict
    probability: float
    threshold: float
    subject: Entity
    object: Entity
    predicate: str
    claim_asserted_in_graph: bool
    evidence: _containers.RepeatedCompositeFieldContainer[EvidencePath]
    graph_version: int
    error: ClaimError
    latency_ms: float
    def __init__(self, request_id: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., probability: _Optional[float] = ..., threshold: _Optional[float] = ..., subject: _Optional[_Union[Entity, _Mapping]] = ..., object: _Optional[_Union[Entity, _Mapping]] = ..., predicate: _Optional[str] = ..., claim_asserted_in_graph: bool = ..., evidence: _Optional[_Iterable[_Union[EvidencePath, _Mapping]]] = ..., graph_version: _Optional[int] = ..., error: _Optional[_Union[ClaimError, _Mapping]] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("model_name", "model_dataset", "relations", "graph_version", "devices", "max_batch", "max_wait_ms", "queue_capacity", "hops", "fanout", "server_version")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_DATASET_FIELD_NUMBER: _ClassVar[int]
    RELATIONS_FIELD_NUMBER: _ClassVar[int]
    GRAPH_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    FANOUT_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_dataset: str
    relations: _containers.RepeatedScalarFieldContainer[str]
    graph_version: int
    devices: _containers.RepeatedScalarFieldContainer[str]
    max_batch: int
    max_wait_ms: int
    queue_capacity: int
    hops: int
    fanout: int
    server_version: str
    def __init__(self, model_name: _Optional[str] = ..., model_dataset: _Optional[str] = ..., relations: _Optional[_Iterable[str]] = ..., graph_version: _Optional[int] = ..., devices: _Optional[_Iterable[str]] = ..., max_batch: _Optional[int] = ..., max_wait_ms: _Optional[int] = ..., queue_capacity: _Optional[int] = ..., hops: _Optional[int] = ..., fanout: _Optional[int] = ..., server_version: _Optional[str] = ...) -> None: ...
