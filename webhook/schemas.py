"""Marshmallow schemas for NCS callbacks (agora-reference §1, §2.3, §3.7).

Schemas only validate: the event kept and queued is the JSON object as Agora sent it, so
unknown fields survive. Unknown keys are therefore never an error; the shared base says so
once (``unknown`` does not propagate to nested schemas), as ``EXCLUDE``, which spares
marshmallow copying every unknown key into a result nobody reads.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

INT64_MAX = 2**63 - 1
AnyField: TypeAlias = fields.Field[Any]


class _OnlyDeclaredValidators:
    """Runs a field's validators only when it has some.

    marshmallow builds an ``And`` of the validators on every call, also of none; with
    ~20 fields per callback that allocation is a measurable share of validation.
    """

    validators: list[Any]

    def _validate(self, value: Any) -> None:
        if self.validators:
            super()._validate(value)  # type: ignore[misc]


class StrictInt(_OnlyDeclaredValidators, fields.Integer):
    """A JSON integer: no strings, no floats, no booleans, within 64 bits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        # One inline check rather than a Range validator: this runs ~20 times per callback.
        if value.__class__ is not int or not -INT64_MAX <= value <= INT64_MAX:
            raise ValidationError("Not a valid 64-bit integer.")
        return value


class StrictStr(_OnlyDeclaredValidators, fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        return value


class StrictBool(_OnlyDeclaredValidators, fields.Boolean):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class RecordList(fields.Field[list[dict[str, Any]]]):
    """A list of flat JSON objects with typed keys (file lists).

    Same checks and error shape as ``List(Nested(...))``, at a tenth of the cost: an
    ``uploaded`` callback lists a file per uid, and each nested schema load costs ~30 us.
    """

    _NAMES = {str: "string", bool: "boolean", int: "integer"}

    def __init__(self, types: dict[str, type], required: tuple[str, ...] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self._types, self._required = types, required

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        errors: dict[int, dict[str, list[str]]] = {}
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                errors[index] = {"_schema": ["Invalid input type."]}
                continue
            problems = {
                name: ["Missing data for required field."]
                for name in self._required
                if name not in item
            }
            for name, kind in self._types.items():
                if name in item and item[name].__class__ is not kind:
                    problems[name] = [f"Not a valid {self._NAMES[kind]}."]
            if problems:
                errors[index] = problems
        if errors:
            raise ValidationError(errors)
        return value


class Base(Schema):
    class Meta:
        unknown = EXCLUDE


def _schema(name: str, **declared: AnyField) -> type[Schema]:
    return Base.from_dict(declared, name=name)


def _int(**kwargs: Any) -> StrictInt:
    return StrictInt(**kwargs)


def _str(**kwargs: Any) -> StrictStr:
    return StrictStr(**kwargs)


def _nested(schema: type[Schema], **kwargs: Any) -> fields.Nested:
    return fields.Nested(schema(), **kwargs)


def _list_of(schema: type[Schema], **kwargs: Any) -> fields.List[Any]:
    return fields.List(fields.Nested(schema()), **kwargs)


NON_NEGATIVE = validate.Range(min=0, max=INT64_MAX)
# Identifier limits (README "NCS callbacks"). Agora's sids are 32 hex digits and noticeIds
# at most ~40 characters; a channel name is under 64 bytes. A sid becomes a URL path segment
# and a Redis key, so it is limited to characters that read back unchanged.
MAX_NOTICE_ID = 128
MAX_SID = 128
MAX_CNAME = 64
SID = validate.And(
    validate.Length(min=1, max=MAX_SID),
    validate.Regexp(r"^[A-Za-z0-9._:-]+\Z", error="Only letters, digits, '-', '_', '.', ':'."),
)
CNAME = validate.Length(min=1, max=MAX_CNAME)

Envelope = _schema(
    "Envelope",
    noticeId=_str(required=True, validate=validate.Length(min=1, max=MAX_NOTICE_ID)),
    productId=_int(required=True),
    eventType=_int(required=True),
    notifyMs=_int(required=True, validate=NON_NEGATIVE),
    payload=fields.Dict(required=True),
    sid=_str(validate=SID),
    eventMs=_int(),
)

RecordingPayload = _schema(
    "RecordingPayload",
    cname=_str(required=True, validate=CNAME),
    uid=_str(required=True),
    sid=_str(required=True, validate=SID),
    sequence=_int(required=True, validate=NON_NEGATIVE),
    sendts=_int(),
    serviceType=_int(),
    serviceScene=_str(),
    details=fields.Dict(required=True),
)

FILE_INFO_TYPES = {
    "fileName": str,
    "trackType": str,
    "uid": str,
    "mixedAllUser": bool,
    "isPlayable": bool,
    "sliceStartTime": int,
}
FileName = _schema("FileName", fileName=_str(required=True))
WebFile = _schema("WebFile", fileName=_str(), filename=_str(), sliceStartTime=_int())
TranscodedUid = _schema(
    "TranscodedUid", uid=_str(required=True), result=_str(), fileList=_list_of(FileName)
)
VodInfo = _schema("VodInfo", videoId=_str())


def _details(name: str, **declared: AnyField) -> type[Schema]:
    return _schema(name, msgName=_str(required=True), **declared)


_STREAM_STATE: dict[str, AnyField] = {
    "streamUid": _str(required=True),
    "state": _int(required=True),
    "UtcMs": _int(),
    "utcMs": _int(),
}
_UPLOAD_DONE: dict[str, AnyField] = {
    "status": _int(),
    "fileList": RecordList(FILE_INFO_TYPES, required=("fileName",)),
}

# eventType -> schema of payload.details, for Cloud Recording (productId 3).
RECORDING_DETAILS: dict[int, Schema] = {
    event_type: schema()
    for event_type, schema in {
        1: _details(
            "CloudRecordingError",
            module=_int(required=True),
            errorLevel=_int(),
            errorCode=_int(),
            stat=_int(),
            errorMsg=_str(),
        ),
        2: _details("CloudRecordingWarning", module=_int(required=True), warnCode=_int()),
        3: _details(
            "CloudRecordingStatusUpdate",
            status=_int(required=True),
            recordingMode=_int(),
            fileList=_str(),
        ),
        4: _details("CloudRecordingFileInfos", fileList=_str(required=True)),
        11: _details("SessionExit", exitStatus=_int(required=True)),
        12: _details("SessionFailover", newUid=_int(required=True)),
        30: _details("UploaderStarted", status=_int()),
        31: _details("Uploaded", **_UPLOAD_DONE),
        32: _details("Backuped", **_UPLOAD_DONE),
        33: _details(
            "UploadingProgress", progress=_int(required=True, validate=validate.Range(0, 10000))
        ),
        40: _details("RecorderStarted", status=_int()),
        41: _details("RecorderLeave", leaveCode=_int(required=True)),
        42: _details(
            "RecorderSliceStart",
            startUtcMs=_int(),
            discontinueUtcMs=_int(),
            mixedAllUser=StrictBool(),
            streamUid=_str(),
            trackType=_str(),
        ),
        43: _details("RecorderAudioStreamStateChanged", **_STREAM_STATE),
        44: _details("RecorderVideoStreamStateChanged", **_STREAM_STATE),
        45: _details("RecorderSnapshotFile", fileName=_str(required=True)),
        60: _details("VodStarted", aliVodInfo=_nested(VodInfo)),
        61: _details("VodTriggered"),
        70: _details("WebRecorderStarted", recorderStartTime=_int()),
        71: _details(
            "WebRecorderStopped",
            code=_int(),
            message=_str(),
            details=_str(),
            fileList=_list_of(WebFile),
        ),
        72: _details("WebRecorderCapabilityLimit", limitType=_str()),
        73: _details("WebRecorderReload", reason=_str()),
        80: _details("TranscoderStarted"),
        81: _details("TranscoderCompleted", result=_str(), uids=_list_of(TranscodedUid)),
        90: _details(
            "DownloadFailed",
            vendor=_int(),
            region=_int(),
            bucket=_str(),
            fileName=_str(),
            filename=_str(),
        ),
        100: _details("RtmpPublishStatus", rtmpUrl=_str(), status=_str()),
        1001: _details("PostponeTranscodeFinalResult", result=_str(), fileList=_list_of(FileName)),
    }.items()
}


def _channel(name: str, **declared: AnyField) -> Schema:
    base: dict[str, AnyField] = {
        "channelName": _str(required=True, validate=CNAME),
        "ts": _int(required=True),
    }
    return _schema(name, **base, **declared)()


def _user(required_platform: bool) -> dict[str, AnyField]:
    declared: dict[str, AnyField] = {
        "uid": _int(required=True),
        "clientSeq": _int(required=True),
        "account": _str(),
    }
    if required_platform:
        declared |= {"platform": _int(required=True), "clientType": _int()}
    return declared


def _leave() -> dict[str, AnyField]:
    return {"reason": _int(), "duration": _int()}


# eventType -> schema of the payload, for RTC channel events (productId 1).
CHANNEL_PAYLOADS: dict[int, Schema] = {
    101: _channel("ChannelCreate"),
    102: _channel("ChannelDestroy", lastUid=_int()),
    103: _channel("BroadcasterJoin", **_user(True)),
    104: _channel("BroadcasterLeave", **_user(True), **_leave()),
    105: _channel("AudienceJoin", **_user(True)),
    106: _channel("AudienceLeave", **_user(True), **_leave()),
    107: _channel("UserJoin", **_user(True)),
    108: _channel("UserLeave", **_user(True), **_leave()),
    111: _channel("RoleToBroadcaster", **_user(False)),
    112: _channel("RoleToAudience", **_user(False)),
}

ENVELOPE = Envelope()
RECORDING_PAYLOAD = RecordingPayload()
