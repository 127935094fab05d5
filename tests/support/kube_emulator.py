#!/usr/bin/env python3
"""A Kubernetes API server emulator for tests: kmock 0.8 plus the fix-ups that
the real `kubectl` and kube-rs clients need.

    python tests/support/kube_emulator.py [--load FILE]... [--port N] [-v]

Prints exactly one line, ``READY http://127.0.0.1:PORT``, on stdout once it
serves (the port is chosen at run time unless --port is given), then logs to
stderr only. It exits on SIGTERM/SIGINT and, when stdin is a pipe or socket,
when stdin reaches EOF, so a test process that dies never leaves it running.

kmock's KubernetesEmulator keeps the objects and their history; this module
only subclasses it and wraps two of its URL-parsing functions. Every fix-up
is marked ``FIX:`` with the kmock shortfall it works around; see README.md.
"""
import argparse
import asyncio
import bisect
import copy
import datetime
import functools
import logging
import os
import re
import secrets
import signal
import stat
import sys
import types
import uuid
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import yaml
from kmock._internal import enums, parsing, rendering  # kmock is pinned (==0.8)

log = logging.getLogger('kube-emulator')

CRDS = kmock.resource('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')
NAMESPACES = kmock.resource('', 'v1', 'namespaces')
ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']


# FIX: kmock parses /api/v1/namespaces[/NAME[/status|finalize]] as a namespace
# prefix with no resource (and /api/v1/namespaces itself crashes the parser),
# so Namespace objects cannot be listed, fetched or deleted.
def _parse_path(path: str, _kmock_parse_path=parsing.parse_path) -> parsing.ParsedPath:
    parts = path.strip('/').split('/')
    if parts[:3] == ['api', 'v1', 'namespaces'] and (len(parts) <= 4 or parts[4] in ('status', 'finalize')):
        name = parts[3] if len(parts) > 3 else None
        return parsing.ParsedPath('', 'v1', 'namespaces', None, name, '/'.join(parts[4:]) or None)
    return _kmock_parse_path(path)


# FIX: kmock starts a watch only on `watch=true` (kubectl/client-go may send
# `watch=1`) and gives PUT (replace) no action at all.
def _guess_k8s(k8s, method, query, _kmock_guess_k8s=parsing.guess_k8s):
    if k8s.group is not None and method == enums.method.GET and query.get('watch') in ('1', 'true', 'True'):
        return enums.action.WATCH
    if k8s.group is not None and method == enums.method.PUT and k8s.name is not None:
        return enums.action.UPDATE
    return _kmock_guess_k8s(k8s, method, query)


parsing.parse_path = _parse_path
parsing.guess_k8s = _guess_k8s


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def _gv(res: kmock.resource) -> str:
    return f'{res.group}/{res.version}' if res.group else res.version


def _version_rank(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other."""
    m = re.fullmatch(r'v(\d+)(?:(alpha|beta)(\d+))?', version)
    if not m:
        return (-1, 0, 0)
    return ({'alpha': 0, 'beta': 1, None: 2}[m[2]], int(m[1]), int(m[3] or 0))


def _status_error(code: int, reason: str, message: str, **details: Any) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=code, reason=reason, message=message, details=details)


# FIX: kmock ignores labelSelector and fieldSelector.
def _label_matcher(selector: str):
    """Equality- and set-based label selectors: a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a."""
    tests = []
    for term in re.split(r',(?![^()]*\))', selector):
        term = term.strip()
        if not term:
            continue
        if m := re.fullmatch(r'([^\s=!(),]+)\s+(in|notin)\s+\(([^()]*)\)', term):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(',')}
            tests.append(lambda ls, k=key, vs=values, neg=(op == 'notin'): (ls.get(k) in vs) != neg if k in ls else neg)
        elif m := re.fullmatch(r'([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)', term):
            key, op, value = m[1], m[2], m[3]
            tests.append(lambda ls, k=key, v=value, neg=(op == '!='): (ls.get(k) == v) != neg)
        elif m := re.fullmatch(r'(!?)\s*([^\s=!(),]+)', term):
            tests.append(lambda ls, k=m[2], neg=bool(m[1]): (k in ls) != neg)
        else:
            raise _status_error(400, 'BadRequest', f'unable to parse requirement: {term!r}')
    return lambda obj: all(t((obj.get('metadata') or {}).get('labels') or {}) for t in tests)


def _field_matcher(selector: str):
    """Field selectors on any dotted path (metadata.name, metadata.namespace, status.phase, spec.nodeName...)."""
    tests = []
    for term in filter(None, (t.strip() for t in selector.split(','))):
        m = re.fullmatch(r'([\w.]+)\s*(==|=|!=)\s*(.*)', term)
        if not m:
            raise _status_error(400, 'BadRequest', f'invalid field selector: {term!r}')
        path, op, value = m[1].split('.'), m[2], m[3].strip()
        tests.append(lambda obj, p=path, v=value, neg=(op == '!='): (str(_dig(obj, p)) == v) != neg)
    return lambda obj: all(t(obj) for t in tests)


def _dig(obj: Any, path: list[str]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return '' if obj is None else str(obj).lower() if isinstance(obj, bool) else obj


def _merge_diff(old: dict, new: dict) -> dict:
    """The JSON merge patch that turns `old` into `new` (PUT and strategic patches become merge patches)."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            if sub := _merge_diff(old[key], value):
                patch[key] = sub
        elif key not in old or old[key] != value:
            patch[key] = value
    return patch


def _strategic_merge(old: Any, patch: Any) -> Any:
    """A small strategic-merge patch: a merge patch whose lists of objects are merged by a key
    (name, containerPort, port, mountPath, type...), honouring `$patch: replace|delete` and
    `$deleteFromPrimitiveList`; ordering/retain directives are dropped. No OpenAPI schema is used."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(old, dict) or patch.get('$patch') == 'replace':
        old = {}
    result = dict(old)
    for key, value in patch.items():
        if key.startswith('$deleteFromPrimitiveList/'):
            field = key.split('/', 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif key.startswith('$'):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(old.get(key), list) and (mk := _merge_key(old[key] + value)):
            merged = list(old[key])
            for item in value:
                idx = next((i for i, o in enumerate(merged) if o.get(mk) == item.get(mk)), None)
                if item.get('$patch') == 'delete':
                    merged = [o for o in merged if o.get(mk) != item.get(mk)]
                elif idx is None:
                    merged.append(_strategic_merge({}, item))
                else:
                    merged[idx] = _strategic_merge(merged[idx], item)
            result[key] = merged
        else:
            result[key] = _strategic_merge(old.get(key), value)
    return result


def _merge_key(items: list) -> str | None:
    if items and all(isinstance(item, dict) for item in items):
        for key in ('name', 'containerPort', 'port', 'mountPath', 'devicePath', 'ip', 'type', 'topologyKey'):
            if all(key in item for item in items if item.get('$patch') != 'delete'):
                return key
    return None


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    # Global resourceVersion counter and the log of all change events (for watches).
    _rv: int = 0
    _log: list[tuple[int, kmock.resource, str, dict, dict | None]] = attrs.field(factory=list)
    _changed: asyncio.Condition = attrs.field(factory=asyncio.Condition)
    stopping: bool = False  # set by stop_watches(): open watches end so the server can shut down

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # FIX: kmock stamps no resourceVersion/uid and has no event history to resume watches from.
        # Every state change kmock makes is announced via `self._buses[resource].put(event)`:
        # hook in there to stamp the object and record the event in our own log.
        class Recorder(dict):
            def __missing__(_, resource):
                return types.SimpleNamespace(put=functools.partial(self._record, resource))
        self._buses = Recorder()
        self.fallback['get /openapi/v3'] << self._serve_openapi
        self.fallback['get', re.compile(r'/openapi/v3/.+')] << self._serve_openapi

    async def _record(self, resource: kmock.resource, event: dict) -> None:
        meta = event['object'].get('metadata') or {}
        key = (resource, meta.get('namespace'), meta.get('name'))
        stored = self._objects[key] if key in self._objects else None
        history = stored.history if stored is not None else []
        old = history[-2].raw if event['type'] == 'MODIFIED' and len(history) >= 2 and history[-2] else None
        old = copy.deepcopy(old)
        self._rv += 1
        meta = dict(meta, resourceVersion=str(self._rv))
        if old is not None and old.get('spec') != event['object'].get('spec'):
            meta['generation'] = (old.get('metadata') or {}).get('generation', 1) + 1
        if stored is not None:
            stored.last['metadata'] = meta  # edits the latest version in place (no new history entry)
            obj = copy.deepcopy(stored.last.raw)
        else:
            obj = dict(copy.deepcopy(event['object']), metadata=meta)
        self._log.append((self._rv, resource, event['type'], obj, old))
        async with self._changed:
            self._changed.notify_all()
        if resource == CRDS:
            await self._crd_changed(obj, deleted=event['type'] == 'DELETED')
        if resource == NAMESPACES and event['type'] == 'DELETED':
            await self._cascade(lambda res, ns, name: ns == meta.get('name'))

    async def _cascade(self, predicate, hard: bool = False) -> None:
        """Delete the objects of a deleted namespace or CRD (kmock keeps them)."""
        for (res, ns, name), obj in list(self._objects.items()):
            if predicate(res, ns, name):
                if not obj.deleted:
                    obj.delete()
                    await self._record(res, {'type': 'DELETED', 'object': obj.last.raw})
                if hard:  # kmock keeps a resource discoverable while any object of it exists, even deleted
                    del self._objects[res, ns, name]

    # FIX: kmock does not serve the resources that a CustomResourceDefinition defines.
    async def _crd_changed(self, crd: dict, deleted: bool) -> None:
        spec = crd.get('spec') or {}
        names = spec.get('names') or {}
        for version in spec.get('versions') or []:
            res = kmock.resource(spec.get('group'), version.get('name'), names.get('plural'))
            if deleted or not version.get('served', True):
                if res in self.resources:
                    del self.resources[res]
                await self._cascade(lambda r, ns, name: r == res, hard=True)
            else:
                self.resources[res] = kmock.ResourceInfo(
                    namespaced=spec.get('scope', 'Namespaced') == 'Namespaced',
                    kind=names.get('kind'), singular=names.get('singular') or names.get('kind', '').lower(),
                    verbs=ALL_VERBS, shortnames=names.get('shortNames') or [],
                    categories=names.get('categories') or [],
                    subresources=list((version.get('subresources') or {}).keys()),
                )

    def _info(self, res: kmock.resource | None) -> kmock.ResourceInfo | None:
        return self.resources[res] if res is not None and res in self.resources else None

    def _kind(self, res: kmock.resource) -> str:
        info = self._info(res)
        return info.kind if info is not None and info.kind else res.plural.capitalize()

    def _matcher(self, request: rendering.Request):
        labels = _label_matcher(request.params.get('labelSelector', ''))
        fields = _field_matcher(request.params.get('fieldSelector', ''))

        def match(obj: dict) -> bool:
            meta = obj.get('metadata') or {}
            return ((request.namespace is None or meta.get('namespace') == request.namespace)
                    and (request.name is None or meta.get('name') == request.name)
                    and labels(obj) and fields(obj))
        return match

    async def _handle(self, request: rendering.Request) -> Any:
        original = request
        try:
            if request.resource is not None and request.resource.plural is not None:
                request = self._rewrite(request)
                # kmock matches reactions only to requests it recorded (by identity).
                self._requests[self._requests.index(original)] = request
            return await super()._handle(request)
        # FIX: kmock's error reasons ('Object Not Found', ...) are not the standard ones that
        # clients test for (kube-rs get_opt() needs reason=NotFound), and carry no details.
        except kmock.KubernetesObjectNotFoundError:
            raise self._not_found(request)
        except kmock.KubernetesNotFoundError:
            raise _status_error(404, 'NotFound', 'the server could not find the requested resource')
        except (ValueError, jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            # e.g. a failed JSON-patch `test`, or kmock's merge refusing to replace a dict by a scalar
            raise _status_error(422, 'Invalid', f'{self._what(request)} "{request.name}" is invalid: {e}')
        except kmock.KubernetesError as e:
            if e.status != 409 or e.reason == 'Conflict':
                raise
            name = (request.data or {}).get('metadata', {}).get('name') if isinstance(request.data, dict) else None
            raise _status_error(409, 'AlreadyExists', f'{self._what(request)} "{name}" already exists',
                                name=name, group=request.resource.group, kind=request.resource.plural)
        finally:
            # FIX: kmock keeps every request (for test assertions) and scans them all for every
            # reaction on every request: a long-lived server slows down quadratically. Forget it.
            self._requests.remove(request)

    def _what(self, request: rendering.Request) -> str:
        res = request.resource
        return f'{res.plural}.{res.group}' if res.group else res.plural

    def _not_found(self, request: rendering.Request) -> kmock.KubernetesError:
        return _status_error(404, 'NotFound', f'{self._what(request)} "{request.name}" not found',
                             name=request.name, group=request.resource.group, kind=request.resource.plural)

    def _rewrite(self, request: rendering.Request) -> rendering.Request:
        """Turn the writes kmock lacks (PUT, apply, strategic and /status patches) into ones it has."""
        key = (request.resource, request.namespace, request.name)
        current = self._objects[key] if key in self._objects else None
        old = None if current is None or current.deleted else current.raw
        data = request.data
        ctype = request.headers.get('Content-Type', '').split(';')[0].strip()
        if ctype == 'application/vnd.kubernetes.protobuf':
            raise _status_error(415, 'UnsupportedMediaType', 'the emulator does not decode protobuf '
                                '(e.g. kubectl create namespace/configmap generators): send JSON or YAML')

        if request.subresource not in (None, 'status', 'scale'):  # kmock would serve the object itself
            raise _status_error(404, 'NotFound', f'the emulator does not serve {request.resource.plural}'
                                f'/{request.subresource} (only the status and scale sub-resources)')
        if request.params.get('dryRun') and request.method in ('POST', 'PUT', 'PATCH', 'DELETE'):
            raise _status_error(400, 'BadRequest', 'the emulator does not support dryRun (it would write)')
        if request.method == 'DELETE' and request.name is None:  # kmock fails with a 500
            raise _status_error(405, 'MethodNotAllowed', 'the emulator does not support deletecollection')

        if request.action == enums.action.CREATE:
            if not isinstance(data, dict):
                raise _status_error(400, 'BadRequest', 'the request body must be a JSON object')
            return attrs.evolve(request, data=self._new_object(request, data))
        if request.action != enums.action.UPDATE:
            return request
        if data is None and ctype != 'application/apply-patch+yaml':
            raise _status_error(400, 'BadRequest', 'the request body must be JSON')
        if old is None:
            # FIX: server-side apply of a new object is a create in Kubernetes; kmock answers 404.
            if ctype == 'application/apply-patch+yaml':
                data = yaml.safe_load(request.text) if not isinstance(data, dict) else data
                data.setdefault('metadata', {})['name'] = request.name
                return attrs.evolve(request, action=enums.action.CREATE, method='POST',
                                    data=self._new_object(request, data))
            raise self._not_found(request)

        sent_rv = (data.get('metadata') or {}).get('resourceVersion') if isinstance(data, dict) else None
        if sent_rv and sent_rv != (old.get('metadata') or {}).get('resourceVersion'):
            raise _status_error(409, 'Conflict', f'Operation cannot be fulfilled on {self._what(request)} '
                                f'"{request.name}": the object has been modified; please apply your changes '
                                'to the latest version and try again', name=request.name, kind=request.resource.plural)
        status_only = request.subresource == 'status'
        if request.subresource == 'scale' and isinstance(data, dict):  # a Scale object or patch of one
            data = {'spec': {'replicas': (data.get('spec') or {}).get('replicas')}}
        elif isinstance(data, list):  # JSON patch: kmock applies it (via jsonpatch)
            data = [op for op in data if not status_only or op.get('path', '').startswith('/status')]
        elif request.method == 'PUT':
            # FIX: PUT (replace) is unsupported by kmock: send the difference as a merge patch.
            new = dict(old, status=data.get('status')) if status_only else dict(data)
            keep = ('name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'generation')
            new['metadata'] = dict(new.get('metadata') or {}, **{
                k: v for k, v in (old.get('metadata') or {}).items() if k in keep})
            data = _merge_diff(old, new)
        else:
            if ctype == 'application/apply-patch+yaml' and not isinstance(data, dict):
                data = yaml.safe_load(request.text)  # YAML (not JSON) apply body; no field ownership
            if status_only:
                data = {'status': data.get('status')} if 'status' in data else {}
            if ctype == 'application/strategic-merge-patch+json':
                data = _merge_diff(old, _strategic_merge(old, data))
        if isinstance(data, dict):
            data.get('metadata', {}).pop('resourceVersion', None)  # stamped by _record()
        return attrs.evolve(request, data=data)

    def _new_object(self, request: rendering.Request, obj: dict) -> dict:
        """FIX: kmock stores created objects as sent: add what the API server adds."""
        res, info = request.resource, self._info(request.resource)
        meta = dict(obj.get('metadata') or {})
        if not meta.get('name') and meta.get('generateName'):
            meta['name'] = meta['generateName'] + secrets.token_hex(3)[:5]
        if info is not None and info.namespaced is False:
            meta.pop('namespace', None)
        elif request.namespace:
            meta['namespace'] = request.namespace
        meta.pop('resourceVersion', None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now())
        meta.setdefault('generation', 1)
        obj = {'apiVersion': _gv(res), 'kind': self._kind(res), **obj, 'metadata': meta}
        if res == CRDS:  # no controller here: a CRD is accepted and established at once
            names = (obj.get('spec') or {}).get('names') or {}
            obj['status'] = {'acceptedNames': names, 'storedVersions': [
                v['name'] for v in obj['spec'].get('versions', []) if v.get('storage')], 'conditions': [
                {'type': t, 'status': 'True', 'reason': t, 'lastTransitionTime': meta['creationTimestamp']}
                for t in ('NamesAccepted', 'Established')]}
        return obj

    async def _render_error(self, exc: Exception) -> Any:
        if isinstance(exc, kmock.KubernetesError):
            return aiohttp.web.json_response({
                'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                'message': exc.message, 'reason': exc.reason, 'details': exc.details or {}, 'code': exc.status,
            }, status=exc.status)
        log.error('internal error: %r', exc, exc_info=exc)
        return await super()._render_error(exc)

    # FIX: /api/v1 discovery says groupVersion "/v1"; sub-resources (pods/log, services/proxy)
    # repeat the parent's shortNames, so kubectl cannot resolve `svc`; unordered output.
    async def _serve_version(self, request: rendering.Request) -> Any:
        doc = await super()._serve_version(request)
        doc['groupVersion'] = _gv(request.resource)
        for entry in doc['resources']:
            if '/' in entry['name']:
                entry.update(singularName='', shortNames=[], categories=[], verbs=['get', 'patch', 'update'])
            entry['verbs'] = sorted(entry['verbs'])
        doc['resources'].sort(key=lambda entry: entry['name'])
        return doc

    # FIX: kmock picks a group's preferredVersion from an unordered set (v1beta1 may win over v1).
    async def _serve_apis(self, request: rendering.Request) -> Any:
        if aggregated := self._aggregated_discovery(request, core=False):
            return aggregated
        doc = await super()._serve_apis(request)
        doc['groups'] = [self._sort_versions(group) for group in sorted(doc['groups'], key=lambda g: g['name'])]
        return rendering.Response(headers={'Content-Type': 'application/json'}, payload=doc)

    async def _serve_api(self, request: rendering.Request) -> Any:
        if aggregated := self._aggregated_discovery(request, core=True):
            return aggregated
        return rendering.Response(headers={'Content-Type': 'application/json'},
                                  payload=await super()._serve_api(request))

    # FIX: kmock has no aggregated discovery (apidiscovery.k8s.io/v2: all groups and resources in
    # one response to /api or /apis); kube-rs Discovery::run_aggregated() requires it.
    def _aggregated_discovery(self, request: rendering.Request, core: bool) -> Any:
        if 'as=APIGroupDiscoveryList' not in request.headers.get('Accept', ''):
            return None
        groups: dict[str, dict[str, list]] = {}
        for res in sorted(self._get_resources(), key=lambda r: r.plural or ''):
            if (res.group == '') == core and res.plural:
                groups.setdefault(res.group, {}).setdefault(res.version, []).append(res)
        items = [{'metadata': {'name': group}, 'versions': [
            {'version': version, 'freshness': 'Current', 'resources': [self._resource_discovery(res) for res in resources]}
            for version, resources in sorted(versions.items(), key=lambda kv: _version_rank(kv[0]), reverse=True)]}
            for group, versions in sorted(groups.items())]
        kind = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'
        return rendering.Response(headers={'Content-Type': kind}, payload={
            'kind': 'APIGroupDiscoveryList', 'apiVersion': 'apidiscovery.k8s.io/v2', 'metadata': {}, 'items': items})

    def _resource_discovery(self, res: kmock.resource) -> dict:
        info = self.resources[res]
        gvk = {'group': res.group, 'version': res.version, 'kind': self._kind(res)}
        return {'resource': res.plural, 'responseKind': gvk, 'scope': 'Cluster' if info.namespaced is False else 'Namespaced',
                'singularResource': info.singular or res.plural, 'verbs': sorted(info.verbs),
                'shortNames': sorted(info.shortnames), 'categories': sorted(info.categories),
                'subresources': [{'subresource': sub, 'responseKind': gvk, 'verbs': ['get', 'patch', 'update']}
                                 for sub in sorted(info.subresources)]}

    async def _serve_group(self, request: rendering.Request) -> Any:
        return self._sort_versions(await super()._serve_group(request))

    def _sort_versions(self, group: dict) -> dict:
        group['versions'].sort(key=lambda v: _version_rank(v['version']), reverse=True)
        group['preferredVersion'] = group['versions'][0]
        return group

    # FIX: kmock answers the /scale sub-resource with the whole object; clients expect a Scale.
    async def _serve_fetch(self, request: rendering.Request) -> Any:
        return self._subresource_view(request, await super()._serve_fetch(request))

    async def _serve_update(self, request: rendering.Request) -> Any:
        return self._subresource_view(request, await super()._serve_update(request))

    def _subresource_view(self, request: rendering.Request, obj: dict) -> dict:
        if request.subresource != 'scale':
            return obj
        meta, spec = obj.get('metadata') or {}, obj.get('spec') or {}
        labels = (spec.get('selector') or {}).get('matchLabels') or {}
        return {'kind': 'Scale', 'apiVersion': 'autoscaling/v1', 'metadata': {
            k: meta[k] for k in ('name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp') if k in meta},
            'spec': {'replicas': spec.get('replicas', 0)}, 'status': {
                'replicas': (obj.get('status') or {}).get('replicas', 0),
                'selector': ','.join(f'{k}={v}' for k, v in labels.items())}}

    # FIX: list responses lack kind/apiVersion/resourceVersion and ignore label/field selectors.
    async def _serve_list(self, request: rendering.Request) -> Any:
        match = self._matcher(request)
        doc = await super()._serve_list(request)
        items = sorted((copy.deepcopy(obj) for obj in doc['items'] if match(obj)), key=lambda o: (
            o['metadata'].get('namespace') or '', o['metadata'].get('name') or ''))
        return {'kind': self._kind(request.resource) + 'List', 'apiVersion': _gv(request.resource),
                'metadata': {'resourceVersion': str(self._rv)}, 'items': items}

    # FIX: kmock's watch has no JSON content type (kubectl rejects it), replays everything as ADDED
    # (ignoring resourceVersion), ignores selectors and timeoutSeconds, and sends no bookmarks.
    def _serve_watch(self, request: rendering.Request) -> Any:
        if request.resource not in self._get_resources():
            raise kmock.KubernetesResourceNotFoundError()
        return rendering.Response(headers={'Content-Type': 'application/json'}, payload=self._watch(request))

    async def _watch(self, request: rendering.Request):
        yield b''  # send the headers now, even if no event comes
        params, loop = request.params, asyncio.get_running_loop()
        match = self._matcher(request)
        bookmarks = params.get('allowWatchBookmarks') in ('true', '1')
        timeout = float(params.get('timeoutSeconds') or 0) or None
        deadline = loop.time() + timeout if timeout else None
        rv = params.get('resourceVersion') or '0'
        initial = params.get('sendInitialEvents') == 'true'
        if rv == '0' or initial:  # "any"/unset version or streaming list: current state first
            pos = len(self._log)
            for obj in sorted((o.raw for (r, _, _), o in self._objects.items()
                               if r == request.resource and not o.deleted),
                              key=lambda o: int(o['metadata'].get('resourceVersion', 0))):
                if match(obj):
                    yield {'type': 'ADDED', 'object': copy.deepcopy(obj)}
            if initial and bookmarks:
                yield self._bookmark(request, {'k8s.io/initial-events-end': 'true'})
        elif not rv.isdigit():
            yield {'type': 'ERROR', 'object': {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure',
                                               'reason': 'BadRequest', 'code': 400,
                                               'message': f'invalid resourceVersion {rv!r}'}}
            return
        else:  # resume: only the changes after the given version
            pos = bisect.bisect_right(self._log, int(rv), key=lambda entry: entry[0])

        while True:
            while pos < len(self._log):
                _, res, kind, obj, old = self._log[pos]
                pos += 1
                if res != request.resource:
                    continue
                now, before = match(obj), old is not None and match(old)
                if kind == 'MODIFIED' and now != before:  # moved into/out of the selection
                    kind = 'ADDED' if now else 'DELETED'
                if now or (kind == 'DELETED' and before):
                    yield {'type': kind, 'object': copy.deepcopy(obj)}
            wait = 5.0 if deadline is None else min(5.0, deadline - loop.time())
            if wait <= 0:
                return
            try:
                async with self._changed:
                    await asyncio.wait_for(self._changed.wait(), wait)
                if self.stopping:
                    return
            except TimeoutError:
                transport = request._raw_request.transport if request._raw_request is not None else None
                if transport is None or transport.is_closing():
                    return  # the client went away (aiohttp does not cancel the handler)
                if bookmarks:
                    yield self._bookmark(request)

    # FIX: kmock serves no OpenAPI, so `kubectl apply` fails ("failed to download openapi") unless
    # --validate=false. A stub OpenAPI v3 that only declares the fieldValidation parameter on each
    # kind's PATCH makes kubectl leave validation to the server (which does none).
    def _serve_openapi(self, request: rendering.Request) -> Any:
        gvs = {(res.group, res.version) for res in self._get_resources()}
        if request.url.path.rstrip('/') == '/openapi/v3':
            return {'paths': {f'{"apis/" + g if g else "api"}/{v}': {
                'serverRelativeURL': f'/openapi/v3/{"apis/" + g if g else "api"}/{v}?hash={self._rv}'}
                for g, v in sorted(gvs)}}
        path = request.url.path.removeprefix('/openapi/v3/').split('/')
        group, version = ('', path[1]) if path[0] == 'api' else ('/'.join(path[1:-1]), path[-1])
        return {'openapi': '3.0.0', 'info': {'title': 'Kubernetes', 'version': 'emulated'}, 'paths': {
            f'/{request.url.path.removeprefix("/openapi/v3/")}/{res.plural}/{{name}}': {'patch': {
                'x-kubernetes-group-version-kind': {'group': group, 'version': version, 'kind': self._kind(res)},
                'parameters': [{'name': 'fieldValidation', 'in': 'query', 'schema': {'type': 'string'}}]}}
            for res in self._get_resources() if (res.group, res.version) == (group, version)}}

    async def stop_watches(self) -> None:
        self.stopping = True
        async with self._changed:
            self._changed.notify_all()

    def _bookmark(self, request: rendering.Request, annotations: dict | None = None) -> dict:
        meta = {'resourceVersion': str(self._rv), **({'annotations': annotations} if annotations else {})}
        return {'type': 'BOOKMARK', 'object': {'kind': self._kind(request.resource),
                                               'apiVersion': _gv(request.resource), 'metadata': meta}}


def load_documents(paths: list[str]) -> list[dict]:
    """All objects of the given YAML files: multi-document files, `kind: *List` documents."""
    objects: list[dict] = []
    for path in paths:
        with open(path, encoding='utf-8') as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                if str(doc.get('kind', '')).endswith('List') and 'items' in doc:
                    objects.extend(item for item in doc['items'] if item)
                else:
                    objects.append(doc)
    return objects


async def preload(emulator: Emulator, server: kmock.Server, objects: list[dict]) -> None:
    """Create the objects through the API itself, so they get exactly what API-created objects get."""
    for obj in objects:
        api_version, kind = obj.get('apiVersion', ''), obj.get('kind')
        group, _, version = api_version.rpartition('/')
        for res in list(emulator.resources):
            info = emulator.resources[res]
            if (res.group, res.version) == (group, version) and info.kind == kind:
                break
        else:
            raise SystemExit(f'kube-emulator: no resource for apiVersion={api_version} kind={kind}')
        prefix = f'/apis/{group}/{version}' if group else f'/api/{version}'
        if info.namespaced:
            prefix += f"/namespaces/{(obj.get('metadata') or {}).get('namespace') or 'default'}"
        async with server.client.post(f'{prefix}/{res.plural}', json=obj) as resp:
            if resp.status >= 300:
                raise SystemExit(f'kube-emulator: cannot load {kind} '
                                 f'{obj.get("metadata", {}).get("name")}: {await resp.text()}')


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--load', action='append', default=[], metavar='FILE',
                        help='YAML file of objects to create at start (repeatable; multi-doc and List ok)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0, help='0 (default): any free port')
    parser.add_argument('-v', '--verbose', action='store_true', help='log every request to stderr')
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if args.verbose else logging.WARNING,
                        format='kube-emulator: %(message)s')

    objects = load_documents(args.load)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    emulator = Emulator()
    emulator.resources.load_bundled()  # discovery data of a recent k3s, shipped with kmock
    async with emulator, kmock.Server(emulator, host=args.host, port=args.port) as server:
        await preload(emulator, server, objects)
        try:
            mode = os.fstat(0).st_mode
        except OSError:  # no stdin at all
            mode = 0
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):  # exit when the parent closes our stdin
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

            async def drain() -> None:
                while await reader.read(4096):
                    pass
                stop.set()
            drain_task = asyncio.create_task(drain())
        sys.stdout.write(f'READY http://{server.host}:{server.port}\n')
        sys.stdout.flush()
        await stop.wait()
        await emulator.stop_watches()
    return 0


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
