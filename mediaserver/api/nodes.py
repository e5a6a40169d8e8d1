"""Routes: the nodes sharing the index — address, alive or dead, load, capacity, what each one runs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mediaserver.api.common import iso
from mediaserver.api.routing import Api, Ctx
from mediaserver.app_keys import CLUSTER_KEY
from mediaserver.auth import Role
from mediaserver.cluster import CAMERA_PREFIX

ROOM_PREFIX = "room:"


class NodeOut(BaseModel):
    id: str
    address: str = Field(..., description="The node's advertise_url.")
    alive: bool = Field(..., description="Heartbeated within the lease TTL.")
    is_self: bool = Field(..., description="The node that answered this request.")
    capacity: int = Field(..., description="Most cameras it may record.")
    cameras: list[str] = Field(..., description="Cameras it records now (holds the lease of), by id.")
    rooms: list[str] = Field(..., description="Rooms placed on it now (holds the lease of), by id.")
    load: dict[str, Any] = Field(..., description="Its last heartbeat's figures: cameras, rooms, cpu_pct, cpus.")
    heartbeat_at: str | None
    last_seen_s: float = Field(..., description="Seconds since its last heartbeat (the index's clock).")
    started_at: str | None


class NodeList(BaseModel):
    clustered: bool = Field(..., description="False: one node, no cluster configured (items is empty).")
    node_id: str | None = Field(..., description="The node that answered.")
    lease_ttl_s: float | None
    items: list[NodeOut]


def register(api: Api) -> None:
    """Add the nodes route (admin and operator)."""

    @api.route("GET", "/api/v1/nodes", roles=(Role.ADMIN, Role.OPERATOR), response=NodeList, tag="system",
               summary="List the cluster's nodes: address, alive or dead, load, capacity, cameras and rooms.")
    async def list_nodes(ctx: Ctx) -> NodeList:
        cluster = ctx.app.get(CLUSTER_KEY)
        if cluster is None:
            return NodeList(clustered=False, node_id=None, lease_ttl_s=None, items=[])
        nodes = await cluster.node_repo.all()
        now = await cluster.node_repo.now()
        held: dict[str, dict[str, list[str]]] = {}
        for lease in await cluster.lease_repo.unexpired():
            for prefix, kind in ((CAMERA_PREFIX, "cameras"), (ROOM_PREFIX, "rooms")):
                if lease.resource.startswith(prefix):
                    held.setdefault(lease.node_id, {"cameras": [], "rooms": []})[kind].append(
                        lease.resource.removeprefix(prefix))
        items = []
        for n in nodes:
            mine = held.get(n.id, {"cameras": [], "rooms": []})
            items.append(NodeOut(
                id=n.id, address=n.address, alive=now - n.heartbeat_at < cluster.ttl_s, is_self=n.id == cluster.node_id,
                capacity=n.capacity, cameras=mine["cameras"], rooms=mine["rooms"], load=n.load,
                heartbeat_at=iso(n.heartbeat_at), last_seen_s=round(max(0.0, now - n.heartbeat_at), 1),
                started_at=iso(n.started_at)))
        return NodeList(clustered=True, node_id=cluster.node_id, lease_ttl_s=cluster.ttl_s, items=items)
