import { createRoute, z } from "@hono/zod-openapi";
import { decodeCursor, listSchema, PageQuery, pageOf } from "../http/pagination.ts";
import { problemResponses } from "../http/problem.ts";
import { publicRoute, secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import { type AccountsHttpOptions, clientMeta } from "./auth-routes.ts";
import type { AccountsDeps } from "./deps.ts";
import { acceptInvitation, createInvitation, listInvitations, revokeInvitation } from "./invitations.ts";
import { changeMemberRole, listMembers, removeMember } from "./members.ts";
import {
  AcceptedInvitationSchema,
  AcceptInvitationBody,
  ChangeRoleBody,
  CreatedInvitationSchema,
  CreateInvitationBody,
  IdParam,
  InvitationSchema,
  invitationToWire,
  MemberSchema,
  memberToWire,
} from "./wire.ts";

/** Members of the org and invitations to join it. */
export function memberRoutes(deps: AccountsDeps, options: AccountsHttpOptions) {
  const router = createRouter();

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/members",
      tags: ["members"],
      summary: "Members of the org with their roles, oldest first",
      ...secured("member"),
      request: { query: z.object(PageQuery) },
      responses: {
        200: {
          description: "a page of members",
          content: { "application/json": { schema: listSchema(MemberSchema, "MemberList") } },
        },
        ...problemResponses("unauthenticated", "validation_failed"),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const rows = await listMembers(deps, c.get("auth"), { limit: q.limit, after: decodeCursor(q.cursor) });
      const page = pageOf(rows, q.limit, (m) => ({ at: m.createdAt, id: m.userId }));
      return c.json({ items: page.items.map(memberToWire), nextCursor: page.nextCursor }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "patch",
      path: "/api/v1/members/{id}",
      tags: ["members"],
      summary: "Change a member's role (the owner role is granted and taken only by owners)",
      ...secured("admin"),
      request: {
        params: IdParam,
        body: { required: true, content: { "application/json": { schema: ChangeRoleBody } } },
      },
      responses: {
        200: { description: "the member", content: { "application/json": { schema: MemberSchema } } },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "conflict", "validation_failed"),
      },
    }),
    async (c) => {
      const member = await changeMemberRole(
        deps,
        c.get("auth"),
        c.req.valid("param").id,
        c.req.valid("json"),
      );
      return c.json(memberToWire(member), 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/members/{id}",
      tags: ["members"],
      summary: "Remove a member: their sessions end and the API keys they created are revoked",
      ...secured("admin"),
      request: { params: IdParam },
      responses: {
        204: { description: "removed" },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "conflict", "validation_failed"),
      },
    }),
    async (c) => {
      await removeMember(deps, c.get("auth"), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/invitations",
      tags: ["members"],
      summary: "Invite an email to the org with a role (returns the invitation token once)",
      ...secured("admin"),
      request: {
        body: { required: true, content: { "application/json": { schema: CreateInvitationBody } } },
      },
      responses: {
        201: { description: "invited", content: { "application/json": { schema: CreatedInvitationSchema } } },
        ...problemResponses("unauthenticated", "forbidden", "conflict", "validation_failed"),
      },
    }),
    async (c) => {
      const created = await createInvitation(deps, c.get("auth"), c.req.valid("json"));
      c.header("Cache-Control", "no-store");
      return c.json({ invitation: invitationToWire(created.invitation), token: created.token }, 201);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/invitations",
      tags: ["members"],
      summary: "Pending invitations, newest first",
      ...secured("admin"),
      request: { query: z.object(PageQuery) },
      responses: {
        200: {
          description: "a page of invitations",
          content: { "application/json": { schema: listSchema(InvitationSchema, "InvitationList") } },
        },
        ...problemResponses("unauthenticated", "forbidden", "validation_failed"),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const rows = await listInvitations(deps, c.get("auth"), {
        limit: q.limit,
        after: decodeCursor(q.cursor),
      });
      const page = pageOf(rows, q.limit, (i) => ({ at: i.createdAt, id: i.id }));
      return c.json({ items: page.items.map(invitationToWire), nextCursor: page.nextCursor }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/api/v1/invitations/{id}",
      tags: ["members"],
      summary: "Revoke a pending invitation",
      ...secured("admin"),
      request: { params: IdParam },
      responses: {
        204: { description: "revoked" },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "validation_failed"),
      },
    }),
    async (c) => {
      await revokeInvitation(deps, c.get("auth"), c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/invitations/accept",
      tags: ["members"],
      summary: "Accept an invitation with its token (creates the account if the email is new)",
      ...publicRoute("auth"),
      request: {
        body: { required: true, content: { "application/json": { schema: AcceptInvitationBody } } },
      },
      responses: {
        201: { description: "joined", content: { "application/json": { schema: AcceptedInvitationSchema } } },
        ...problemResponses("unauthenticated", "conflict", "validation_failed"),
      },
    }),
    async (c) => {
      const accepted = await acceptInvitation(deps, c.req.valid("json"), clientMeta(c, options));
      return c.json(accepted, 201);
    },
  );
  return router;
}
