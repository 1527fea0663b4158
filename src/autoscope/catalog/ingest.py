"""Whole batches of bluesky documents written into the catalog in one request.

The embedded catalog server (:func:`autoscope.catalog.app.build_app`) has one
endpoint of its own beside Tiled's::

    POST /api/v1/autoscope/documents     (GET: the protocol version)

Its body (msgpack, numpy arrays as binary, as in :mod:`autoscope.catalog.spool`)
is ``{"uid": RUN_UID, "first": K, "docs": [[name, doc], ...], "max_array_size": N}``:
documents K, K+1, ... of one run, in the order the RunEngine emitted them.
The server feeds them to bluesky-tiled-plugins' own ``RunNormalizer`` →
``_RunWriter`` (the classes TiledWriter builds per run), whose client calls
land in :class:`_Node` instead of HTTP: each is applied to Tiled's catalog
adapter tree in-process, with the same bodies, structures and data sources that
the HTTP route would have parsed, so the layout in the catalog, the revision
rules and the live-subscription messages are those of TiledWriter over HTTP.
A short run (start, descriptor, events, stop) costs one request instead of
about 14; a raster's queued lines cost one request per batch instead of one
per array key plus one table append.

Idempotent by construction:

- ``first == 0`` (re)writes the run: any copy of it in the catalog is deleted
  first. Re-sending a run's documents from the first never duplicates it.
- ``first > 0`` continues the run that this server process is writing; documents
  it already applied (``first`` below its count) are skipped. A run it does not
  hold (the server restarted) or a gap answers 409, and the writer re-sends the
  run from its spool with ``first == 0``.
- A document the run writer cannot store answers 422 (the writer keeps the
  run in ``failed/``); a structure this path does not build (ragged arrays)
  answers 501, and the writer sends that run through Tiled's own routes.

Auth: the endpoint takes Tiled's API key and scopes like Tiled's write routes.
"""

import asyncio
import collections
import copy
import functools
import json
import logging
import threading
from dataclasses import asdict

import numpy as np

from autoscope.catalog import spool
from autoscope.errors import CatalogRequestError

logger = logging.getLogger(__name__)

#: Path of the endpoint under the server's ``/api/v1``.
ROUTE = "/autoscope/documents"
#: Version of the request format; GET on the endpoint returns it.
PROTOCOL = 1
MSGPACK = "application/x-msgpack"
#: Runs whose writing a server keeps open at once (a writer that vanished
#: mid-run leaves one behind; the oldest are forgotten, and a late batch of
#: theirs answers 409, which makes its writer re-send the run).
MAX_OPEN_RUNS = 256
# the rows of a batch wait in the run writer's cache until _flush_rows sends them
_NO_AUTO_BATCH = 2**62
_SCOPES = ["create:node", "write:metadata", "write:data", "register", "delete:node"]


def pack(obj) -> bytes:
    """msgpack ``obj``; numpy arrays travel as binary (dtype, shape, bytes)."""
    import msgpack

    return msgpack.packb(obj, default=spool._default, use_bin_type=True)


def unpack(data: bytes):
    import msgpack

    return msgpack.unpackb(data, raw=False, ext_hook=spool._ext_hook, strict_map_key=False)


def flush_rows(rw) -> None:
    """Send the rows a run writer has cached: one write per array key, one table append.

    ``rw`` is bluesky-tiled-plugins' ``_RunWriter``, made with a batch size it
    never reaches, so rows wait in its cache until this is called.
    """
    if rw is None:
        return
    for desc_name, rows in rw._internal_data_cache.items():
        if rows:
            rw._write_internal_data(rows, desc_node=rw._desc_nodes[desc_name])
            rows.clear()
    for key in list(rw._external_data_cache):
        rw._write_external_data(rw._external_data_cache.pop(key))


def normalizer(**kwargs):
    """bluesky-tiled-plugins' ``RunNormalizer`` that checks an event without printing its arrays.

    The normalizer validates every document against event-model's JSON schema.
    For an event, jsonschema's ``unevaluatedProperties: false`` tries each
    top-level value against the ``false`` schema, and the error it makes and
    drops holds ``repr`` of the value: every array of the event printed in full
    (about 10 ms for a 512-point line, 20 ms a line of 4 keys, most of the
    endpoint's own cost per line). The schema lets ``data`` hold anything
    (``additionalProperties: true``), so the event is validated with its data
    values left out (the keys kept) and sent on unchanged: the same documents
    pass and fail. If a newer event-model constrains the values, every event
    is validated whole, as upstream does.
    """
    return _normalizer_class()(**kwargs)


@functools.cache
def _normalizer_class():
    from bluesky_tiled_plugins.writing.tiled_writer import RunNormalizer
    from event_model import DocumentNames, schema_validators

    event = DocumentNames.event
    validator = schema_validators[event]
    defs = validator.schema.get("$defs", {})
    data = defs.get("PartialEvent", {}).get("properties", {}).get("data", {})
    values_free = data.get("additionalProperties") is True and set(data) <= {
        "title",
        "description",
        "type",
        "additionalProperties",
    }

    class _Normalizer(RunNormalizer):
        def emit(self, name, doc):
            if values_free and name == event and isinstance(doc.get("data"), dict):
                validator.validate({**doc, "data": dict.fromkeys(doc["data"])})
                self.dispatcher.process(name, doc)
            else:
                super().emit(name, doc)

    return _Normalizer


def feed(router, rw, name: str, doc: dict) -> None:
    """Give one document to a RunNormalizer feeding ``rw``.

    ``_RunWriter.stop`` registers the cached stream data without emptying its
    cache: it is sent first, or a flush after the stop would register it twice.
    """
    if name == "stop":
        flush_rows(rw)
    router(name, doc)


# ---- the adapter tree seen as the Tiled client that _RunWriter expects ----------


def _wire(obj):
    """``obj`` as the server would get it over HTTP (the client's JSON encoding)."""
    from tiled.utils import safe_json_dump

    return json.loads(safe_json_dump(obj))


class _Tree:
    """The catalog root, reached from the worker thread that runs the run writer."""

    def __init__(self, root, loop):
        self.root = root
        self.loop = loop

    def call(self, fn, *args, **kwargs):
        """Run coroutine function ``fn`` on the server's event loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self.loop).result()

    async def lookup(self, segments):
        return await self.root.lookup_adapter(list(segments))

    def typed(self, made):
        """The adapter class of ``made``'s structure family (create_node returns its parent's)."""
        from tiled.catalog.adapter import STRUCTURES

        return STRUCTURES[made.node.structure_family](made.context, made.node)


class _Node:
    """One catalog node, with the methods of a Tiled client node that _RunWriter calls."""

    def __init__(self, tree: _Tree, segments: tuple, metadata: dict, data_sources=(), adapter=None):
        self._tree = tree
        self.segments = tuple(segments)
        self._metadata = metadata
        self._data_sources = list(data_sources)
        self._adapter = adapter  # the catalog adapter of this node, once known

    async def adapter(self):
        if self._adapter is None:
            self._adapter = await self._tree.lookup(self.segments)
        return self._adapter

    # what _RunWriter reads
    @property
    def item(self) -> dict:
        return {"id": self.segments[-1] if self.segments else ""}

    @property
    def uri(self) -> str:
        return "/".join(self.segments)

    @property
    def base(self):
        return self

    @property
    def metadata(self) -> dict:
        return self._metadata

    def data_sources(self):
        return self._data_sources

    # what _RunWriter does
    def create_container(self, key, metadata=None, specs=None, access_tags=None):
        return self.new("container", [], key=key, metadata=metadata, specs=specs)

    def new(
        self,
        structure_family,
        data_sources,
        *,
        key=None,
        metadata=None,
        specs=None,
        access_tags=None,
    ):
        from tiled.access_control.protocols import normalize_access_tags
        from tiled.server import schemas
        from tiled.structures.core import StructureFamily
        from tiled.utils import safe_json_dump

        body = {
            "id": key,
            "metadata": metadata or {},
            "structure_family": StructureFamily(structure_family),
            "specs": [
                {"name": s, "version": None} if isinstance(s, str) else asdict(s)
                for s in (specs or [])
            ],
            "data_sources": [asdict(ds) for ds in data_sources],
        }
        req = schemas.PostMetadataRequest.model_validate_json(safe_json_dump(body))

        async def create():
            parent = await self.adapter()
            node = await parent.create_node(
                metadata=req.metadata,
                structure_family=req.structure_family,
                key=key,
                specs=req.specs,
                data_sources=req.data_sources,
                # the HTTP route's choice when the server has no access policy
                access_tags=normalize_access_tags(),
            )
            node = self._tree.typed(node)
            return node, await node.data_sources()

        node, made = self._tree.call(create)
        family = StructureFamily(req.structure_family).value
        cls = {"array": _Array, "table": _Table}.get(family, _Node)
        return cls(self._tree, self.segments + (key,), req.metadata, made, node)

    def write_array(
        self, array, *, key=None, metadata=None, dims=None, specs=None, access_tags=None
    ):
        from dask.array.core import normalize_chunks
        from tiled.client.container import Container
        from tiled.structures.array import ArrayStructure, BuiltinDtype
        from tiled.structures.data_source import DataSource

        array = np.ascontiguousarray(array)
        chunks = normalize_chunks(
            tuple("auto" for _ in array.shape),
            limit=Container._SUGGESTED_MAX_UPLOAD_SIZE,
            dtype=array.dtype,
            shape=array.shape,
        )
        structure = ArrayStructure(
            shape=array.shape,
            chunks=chunks,
            dims=dims,
            data_type=BuiltinDtype.from_numpy_dtype(array.dtype),
        )
        node = self.new(
            "array",
            [DataSource(structure=structure, structure_family="array")],
            key=key,
            metadata=metadata,
            specs=specs,
        )
        node.write(array)
        return node

    def write_ragged(self, *args, **kwargs):
        raise NotImplementedError("ragged arrays are written through Tiled's own routes")

    def create_appendable_table(
        self, schema, npartitions=1, *, key=None, metadata=None, specs=None, access_tags=None
    ):
        from tiled.structures.data_source import DataSource
        from tiled.structures.table import TableStructure

        structure = TableStructure.from_schema(schema, npartitions)
        return self.new(
            "table",
            [
                DataSource(
                    structure=structure,
                    structure_family="table",
                    mimetype="application/x-tiled-sql-table",
                    parameters={},
                )
            ],
            key=key,
            metadata=metadata or {},
            specs=specs or [],
        )

    def update_metadata(self, metadata=None, specs=None, access_tags=None, *, drop_revision=False):
        """Tiled client's ``update_metadata``: a dict-update of the node's metadata."""
        from tiled.client.metadata_update import apply_update_patch

        update = _wire(metadata or {})

        async def apply():
            node = await self.adapter()
            # the client patches what it holds: the metadata it created or last updated
            new = apply_update_patch(copy.deepcopy(self._metadata), update)
            await node.replace_metadata(metadata=new, specs=node.specs, drop_revision=drop_revision)
            return new

        self._metadata = self._tree.call(apply)

    def put_data_source(self, data_source, patch=None) -> None:
        """What ``PUT /data_source/...`` does (StreamResource registration)."""
        from tiled.server import schemas
        from tiled.stream_messages import ArrayPatch
        from tiled.utils import safe_json_dump

        req = schemas.PutDataSourceRequest.model_validate_json(
            safe_json_dump({"data_source": asdict(data_source)})
        )
        array_patch = (
            ArrayPatch(shape=tuple(patch.shape), offset=tuple(patch.offset)) if patch else None
        )

        async def put():
            node = await self.adapter()
            await node.put_data_source(data_source=req.data_source, patch=array_patch)

        self._tree.call(put)

    def close_stream(self) -> None:
        async def close():
            node = await self.adapter()
            await node.close_stream()

        self._tree.call(close)


class _Array(_Node):
    def __init__(self, tree, segments, metadata, data_sources=(), adapter=None):
        super().__init__(tree, segments, metadata, data_sources, adapter)
        structure = data_sources[0].structure
        self.shape = tuple(structure.shape)
        self.dtype = structure.data_type.to_numpy_dtype()

    def write(self, array) -> None:
        from tiled.media_type_registration import default_deserialization_registry

        deserializer = default_deserialization_registry.dispatch(
            "array", "application/octet-stream"
        )
        body = np.ascontiguousarray(array).tobytes()

        async def write():
            node = await self.adapter()
            await node.write("application/octet-stream", deserializer, node, body)

        self._tree.call(write)

    def patch(self, array, offset, extend=False) -> None:
        from tiled.media_type_registration import default_deserialization_registry

        if array.dtype != self.dtype:
            raise ValueError(
                f"Data given to patch has dtype {array.dtype} which does not match the "
                f"dtype of this array {self.dtype}."
            )
        deserializer = default_deserialization_registry.dispatch(
            "array", "application/octet-stream"
        )
        array = np.ascontiguousarray(array)
        offset = (offset,) if isinstance(offset, int) else tuple(offset)

        async def patch():
            node = await self.adapter()
            return await node.patch(
                array.shape,
                offset,
                extend,
                "application/octet-stream",
                deserializer,
                node,
                array.tobytes(),
            )

        structure = self._tree.call(patch)
        self.shape = tuple(structure["shape"])


class _Table(_Node):
    def append_partition(self, partition, table) -> None:
        from tiled.media_type_registration import default_deserialization_registry
        from tiled.mimetypes import APACHE_ARROW_FILE_MIME_TYPE
        from tiled.serialization.table import serialize_arrow

        body = bytes(serialize_arrow(APACHE_ARROW_FILE_MIME_TYPE, table, {}))
        deserializer = default_deserialization_registry.dispatch(
            "table", APACHE_ARROW_FILE_MIME_TYPE
        )

        async def append():
            node = await self.adapter()
            await node.append_partition(
                APACHE_ARROW_FILE_MIME_TYPE, deserializer, node, body, partition
            )

        self._tree.call(append)


def _run_writer_class():
    from bluesky_tiled_plugins.writing.tiled_writer import _RunWriter

    class _InProcessRunWriter(_RunWriter):
        """_RunWriter whose StreamResource registration goes to the adapter, not HTTP."""

        def _update_data_source_for_node(self, node, data_source, patch=None):
            data_source.id = node.data_sources()[0].id
            node.put_data_source(data_source, patch)

    return _InProcessRunWriter


# ---- runs being written ---------------------------------------------------------


class _Session:
    def __init__(self, tree: _Tree, uid: str, max_array_size: int):
        self.uid = uid
        self.applied = 0
        self.writer = _run_writer_class()(
            _Node(tree, (), {}), batch_size=_NO_AUTO_BATCH, max_array_size=max_array_size
        )
        self.router = normalizer()
        self.router.subscribe(self.writer)


class Sessions:
    """The runs this server process is writing, keyed by run uid."""

    def __init__(self, max_open: int = MAX_OPEN_RUNS):
        self.max_open = max_open
        self._open: collections.OrderedDict[str, _Session] = collections.OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._mutex = threading.Lock()

    def lock(self, uid: str) -> asyncio.Lock:
        """One lock per run: batches of a run are applied one after another."""
        with self._mutex:
            if uid not in self._locks:
                if len(self._locks) > 4 * self.max_open:
                    for key in [k for k, v in self._locks.items() if not v.locked()]:
                        if key not in self._open:
                            del self._locks[key]
                self._locks[uid] = asyncio.Lock()
            return self._locks[uid]

    def apply(self, tree: _Tree, msg: dict) -> dict:
        """Apply one batch (in a worker thread); returns ``{"uid", "applied", "finished"}``."""
        uid, first, docs = _parse(msg)
        max_array_size = int(msg.get("max_array_size", 0))
        with self._mutex:
            session = self._open.get(uid)
        if first == 0:
            tree.call(_delete_run, tree, uid)
            session = _Session(tree, uid, max_array_size)
            with self._mutex:
                self._open[uid] = session
                while len(self._open) > self.max_open:
                    self._open.popitem(last=False)
        elif session is None:
            raise CatalogRequestError(
                409,
                f"run {uid}: this server is not writing it (restarted?); "
                "send its documents from the first (first=0)",
            )
        elif first > session.applied:
            raise CatalogRequestError(
                409,
                f"run {uid}: documents {session.applied}..{first - 1} are missing; "
                "send its documents from the first (first=0)",
            )
        todo = docs[session.applied - first :]
        finished = False
        try:
            for name, doc in todo:
                feed(session.router, session.writer, name, doc)
                if name == "stop":
                    finished = True
            flush_rows(session.writer)
        except BaseException:
            with self._mutex:
                self._open.pop(uid, None)  # the catalog's copy is uncertain now
            raise
        # a batch wholly applied before (first + len(docs) <= applied) changes nothing
        session.applied = max(session.applied, first + len(docs))
        if finished:
            with self._mutex:
                self._open.pop(uid, None)
        return {"uid": uid, "applied": session.applied, "finished": finished}


def _parse(msg) -> tuple[str, int, list]:
    if not isinstance(msg, dict):
        raise CatalogRequestError(400, "the body must be a msgpack map {uid, first, docs}")
    uid, first, docs = msg.get("uid"), msg.get("first"), msg.get("docs")
    if not isinstance(uid, str) or not uid or "/" in uid:
        raise CatalogRequestError(400, f"'uid' must be a run uid, not {uid!r}")
    if not isinstance(first, int) or first < 0:
        raise CatalogRequestError(400, f"'first' must be an index >= 0, not {first!r}")
    if not isinstance(docs, list) or not all(
        isinstance(d, (list, tuple)) and len(d) == 2 and isinstance(d[1], dict) for d in docs
    ):
        raise CatalogRequestError(400, "'docs' must be a list of [name, document] pairs")
    if first == 0 and (not docs or docs[0][0] != "start" or docs[0][1].get("uid") != uid):
        raise CatalogRequestError(400, f"run {uid}: the first document must be its start document")
    return uid, first, [(str(n), d) for n, d in docs]


async def _delete_run(tree: _Tree, uid: str) -> None:
    from tiled.server.core import NoEntry

    try:
        node = await tree.lookup([uid])
    except NoEntry:
        return
    await node.delete(recursive=True, external_only=False)


# ---- the route ------------------------------------------------------------------


def make_router():
    """The FastAPI router of the endpoint (mounted by Tiled under ``/api/v1``)."""
    import anyio
    from fastapi import APIRouter, HTTPException, Request, Response, Security
    from tiled.server.authentication import check_scopes

    router = APIRouter()
    sessions = Sessions()
    may_read = Security(check_scopes, scopes=["read:metadata"])
    may_write = Security(check_scopes, scopes=_SCOPES)

    @router.get(ROUTE)
    async def about(_=may_read):
        return {"protocol": PROTOCOL, "max_open_runs": sessions.max_open}

    @router.post(ROUTE)
    async def post_documents(request: Request, _=may_write):
        try:
            msg = unpack(await request.body())
        except Exception as exc:  # noqa: BLE001 - any undecodable body
            raise HTTPException(400, f"the body is not msgpack ({exc})") from None
        tree = _Tree(request.app.state.root_tree, asyncio.get_running_loop())
        uid = msg.get("uid") if isinstance(msg, dict) else None
        try:
            async with sessions.lock(str(uid)):
                result = await anyio.to_thread.run_sync(sessions.apply, tree, msg)
        except CatalogRequestError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        except HTTPException:
            raise
        except NotImplementedError as exc:
            raise HTTPException(501, f"run {uid}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - sorted below
            if _storage_failure(exc):
                detail = f"run {uid}: the catalog's storage failed ({exc})"
                logger.warning("%s", detail, exc_info=exc)
                raise HTTPException(503, detail) from None
            logger.error("run %s: the run writer cannot store a batch", uid, exc_info=exc)
            raise HTTPException(
                422, f"run {uid}: the run writer cannot store it ({type(exc).__name__}: {exc})"
            ) from None
        return Response(pack(result), media_type=MSGPACK)

    return router


def _storage_failure(exc: BaseException) -> bool:
    """True for failures of the catalog's storage (retry later), not of the documents."""
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover - tiled requires sqlalchemy
        OperationalError = ()  # noqa: N806
    return isinstance(exc, (OSError, OperationalError, TimeoutError))
