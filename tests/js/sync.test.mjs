// Two matrix-js-sdk clients (the SDK behind Element) talk through the homeserver
// at HS_BASE_URL: registration, initial sync, invite and join, messages in order,
// a reaction and an edit, typing and a read receipt.
//
//   HS_BASE_URL=http://127.0.0.1:8008 node --test --test-force-exit sync.test.mjs
//
// The server must allow open registration (m.login.dummy). --test-force-exit: the SDK
// leaves per-request timers running after stopClient(), which would keep Node alive for
// up to two minutes. HS_STEP_TIMEOUT_MS bounds each wait (default 15000).
// tests/api/test_js_sdk.py runs this against the server on SQLite and PostgreSQL.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";

import * as sdk from "matrix-js-sdk";
import { logger as globalSdkLogger } from "matrix-js-sdk/lib/logger.js";

const BASE_URL = process.env.HS_BASE_URL;
const STEP_TIMEOUT_MS = Number(process.env.HS_STEP_TIMEOUT_MS ?? 15000);
const PASSWORD = "correct horse battery staple";

// The SDK logs through loglevel; its warnings and errors are kept and shown when a step
// fails (child loggers made after this copy the method factory), the rest is dropped.
const sdkLog = [];
globalSdkLogger.methodFactory = (level) => {
    if (level !== "warn" && level !== "error") return () => {};
    return (...msg) => {
        const text = msg.map((m) => (m instanceof Error ? m.stack : String(m))).join(" ");
        sdkLog.push(`[${level}] ${text}`);
    };
};
globalSdkLogger.rebuild();

function sdkLogTail() {
    return sdkLog.length ? `\nSDK warnings/errors (last 20):\n${sdkLog.slice(-20).join("\n")}` : "";
}

/**
 * Resolves with the arguments of the first `eventName` emission on `emitter` for which
 * `match(...args)` is truthy; rejects after STEP_TIMEOUT_MS naming what was awaited.
 * Call it before triggering the action so that no emission can be missed.
 */
function waitFor(emitter, eventName, match, what) {
    let onEvent;
    let timer;
    const promise = new Promise((resolve, reject) => {
        onEvent = (...args) => {
            let ok;
            try {
                ok = match(...args);
            } catch (err) {
                reject(err);
                return;
            }
            if (ok) resolve(args);
        };
        timer = setTimeout(
            () =>
                reject(
                    new Error(
                        `timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what} (${eventName})` +
                            sdkLogTail(),
                    ),
                ),
            STEP_TIMEOUT_MS,
        );
        emitter.on(eventName, onEvent);
    });
    return promise.finally(() => {
        clearTimeout(timer);
        emitter.off(eventName, onEvent);
    });
}

/** Collects `count` matching emissions, in emission order. */
function collect(emitter, eventName, match, count, what) {
    const seen = [];
    return waitFor(
        emitter,
        eventName,
        (...args) => {
            if (match(...args)) seen.push(args);
            return seen.length >= count;
        },
        `${what} (${count} wanted)`,
    ).then(
        () => seen,
        (err) => {
            err.message += `\nreceived so far: ${seen.length}`;
            throw err;
        },
    );
}

/** Registers a fresh user through the user-interactive flow with m.login.dummy. */
async function register(localpart) {
    const client = sdk.createClient({
        baseUrl: BASE_URL,
    });
    let session;
    try {
        await client.registerRequest({ username: localpart, password: PASSWORD });
        assert.fail("registration without auth should ask for user-interactive auth");
    } catch (err) {
        assert.equal(err.httpStatus, 401, `first /register should answer 401, got ${err}`);
        const flows = err.data?.flows ?? [];
        assert.ok(
            flows.some((f) => f.stages?.length === 1 && f.stages[0] === "m.login.dummy"),
            `no m.login.dummy flow offered: ${JSON.stringify(err.data)}`,
        );
        session = err.data.session;
        assert.equal(typeof session, "string", "the 401 carries a UIA session id");
    }
    const resp = await client.registerRequest({
        username: localpart,
        password: PASSWORD,
        initial_device_display_name: `js-sdk ${localpart}`,
        auth: { type: "m.login.dummy", session },
    });
    assert.ok(resp.access_token, "registration returns an access token");
    assert.ok(resp.device_id, "registration returns a device id");
    return sdk.createClient({
        baseUrl: BASE_URL,
        userId: resp.user_id,
        accessToken: resp.access_token,
        deviceId: resp.device_id,
    });
}

/** Starts syncing and waits for the first complete sync (the PREPARED state). */
async function startAndPrepare(client) {
    const prepared = waitFor(
        client,
        sdk.ClientEvent.Sync,
        (state, _prev, data) => {
            if (state === sdk.SyncState.Error) {
                throw new Error(`${client.getUserId()} sync failed: ${data?.error}` + sdkLogTail());
            }
            return state === sdk.SyncState.Prepared;
        },
        `${client.getUserId()} initial sync`,
    );
    await client.startClient({ initialSyncLimit: 10 });
    await prepared;
}

/** Live timeline events in `roomId` (not back-pagination, not local echoes). */
function liveIn(roomId, extra) {
    return (event, room, toStartOfTimeline, _removed, data) =>
        room?.roomId === roomId &&
        !toStartOfTimeline &&
        data?.liveEvent !== false &&
        !event.status &&
        extra(event);
}

let alice;
let bob;
let broken = null;

/** A subtest that is skipped once an earlier one failed (its state would be missing). */
async function step(t, name, fn) {
    await t.test(name, async (st) => {
        if (broken) {
            st.skip(`an earlier step failed: ${broken}`);
            return;
        }
        try {
            await fn();
        } catch (err) {
            broken = name;
            throw err;
        }
    });
}

before(async () => {
    assert.ok(BASE_URL, "set HS_BASE_URL to the homeserver's base URL");
    const suffix = randomBytes(4).toString("hex");
    alice = await register(`alice-${suffix}`);
    bob = await register(`bob-${suffix}`);
    await Promise.all([startAndPrepare(alice), startAndPrepare(bob)]);
});

after(() => {
    alice?.stopClient();
    bob?.stopClient();
});

test("two js-sdk clients chat through the homeserver", async (t) => {
    const aliceId = alice.getUserId();
    const bobId = bob.getUserId();
    let roomId;
    const messageIds = [];
    const bodies = ["first message", "second message", "third message"];

    await step(t, "an invite reaches the invitee through sync and the invitee joins", async () => {
        const invited = waitFor(
            bob,
            sdk.RoomMemberEvent.Membership,
            (_event, member) => member.userId === bobId && member.membership === "invite",
            "bob's invite",
        );
        ({ room_id: roomId } = await alice.createRoom({ name: "js-sdk room", preset: "private_chat" }));
        await alice.invite(roomId, bobId);
        const [, member] = await invited;
        assert.equal(member.roomId, roomId);

        const aliceSeesJoin = waitFor(
            alice,
            sdk.RoomMemberEvent.Membership,
            (_event, m) => m.roomId === roomId && m.userId === bobId && m.membership === "join",
            "alice seeing bob's join",
        );
        const bobJoined = waitFor(
            bob,
            sdk.RoomMemberEvent.Membership,
            (_event, m) => m.roomId === roomId && m.userId === bobId && m.membership === "join",
            "bob's own join in his sync",
        );
        await bob.joinRoom(roomId);
        await Promise.all([aliceSeesJoin, bobJoined]);
        assert.equal(bob.getRoom(roomId)?.getMyMembership(), "join");
        assert.equal(bob.getRoom(roomId)?.name, "js-sdk room");
    });

    await step(t, "messages arrive at the other client in order with their bodies", async () => {
        const received = collect(
            bob,
            sdk.RoomEvent.Timeline,
            liveIn(roomId, (e) => e.getType() === "m.room.message" && e.getSender() === aliceId),
            bodies.length,
            "alice's messages at bob",
        );
        for (const body of bodies) {
            const { event_id } = await alice.sendTextMessage(roomId, body);
            messageIds.push(event_id);
        }
        const events = (await received).map(([event]) => event);
        assert.deepEqual(
            events.map((e) => e.getContent().body),
            bodies,
        );
        assert.deepEqual(
            events.map((e) => e.getId()),
            messageIds,
        );
        const timeline = bob.getRoom(roomId).getLiveTimeline().getEvents();
        const tail = timeline.filter((e) => e.getType() === "m.room.message").map((e) => e.getId());
        assert.deepEqual(tail, messageIds, "bob's live timeline holds the messages in order");
    });

    await step(t, "a reaction and an edit reach the sender and are aggregated", async () => {
        const [firstId] = messageIds;
        const seen = collect(
            alice,
            sdk.RoomEvent.Timeline,
            liveIn(
                roomId,
                (e) =>
                    e.getSender() === bobId &&
                    (e.getType() === "m.reaction" || e.getType() === "m.room.message"),
            ),
            2,
            "bob's reaction and edit at alice",
        );
        // Bob edits a message of his own (edits must come from the original sender).
        const { event_id: ownId } = await bob.sendTextMessage(roomId, "typo mesage");
        const reaction = await bob.sendEvent(roomId, "m.reaction", {
            "m.relates_to": { rel_type: "m.annotation", event_id: firstId, key: "👍" },
        });
        const editArrived = collect(
            alice,
            sdk.RoomEvent.Timeline,
            liveIn(roomId, (e) => e.isRelation("m.replace")),
            1,
            "bob's edit at alice",
        );
        const edit = await bob.sendEvent(roomId, "m.room.message", {
            msgtype: "m.text",
            body: "* typo message",
            "m.new_content": { msgtype: "m.text", body: "typo message" },
            "m.relates_to": { rel_type: "m.replace", event_id: ownId },
        });
        const [[ownAtAlice], [reactionAtAlice]] = await seen;
        assert.equal(ownAtAlice.getId(), ownId);
        assert.equal(reactionAtAlice.getId(), reaction.event_id);
        assert.equal(reactionAtAlice.getRelation()?.key, "👍");
        assert.equal(reactionAtAlice.getRelation()?.event_id, firstId);
        const [[editAtAlice]] = await editArrived;
        assert.equal(editAtAlice.getId(), edit.event_id);

        const room = alice.getRoom(roomId);
        const original = room.findEventById(ownId);
        assert.ok(original, "alice has bob's original message");
        assert.equal(original.replacingEventId(), edit.event_id, "the SDK applied the edit");
        assert.equal(original.getContent().body, "typo message");
        const annotations = room
            .getUnfilteredTimelineSet()
            .relations.getChildEventsForEvent(firstId, "m.annotation", "m.reaction");
        assert.ok(annotations, "alice aggregated the reaction");
        assert.deepEqual(
            annotations.getSortedAnnotationsByKey().map(([key, events]) => [key, events.size]),
            [["👍", 1]],
        );
    });

    await step(t, "typing notifications reach the other member", async () => {
        const typing = waitFor(
            bob,
            sdk.RoomMemberEvent.Typing,
            (_event, member) => member.roomId === roomId && member.userId === aliceId && member.typing,
            "alice typing at bob",
        );
        await alice.sendTyping(roomId, true, 30000);
        await typing;
        const stopped = waitFor(
            bob,
            sdk.RoomMemberEvent.Typing,
            (_event, member) => member.roomId === roomId && member.userId === aliceId && !member.typing,
            "alice stopped typing at bob",
        );
        await alice.sendTyping(roomId, false, 0);
        await stopped;
    });

    await step(t, "a read receipt reaches the other member", async () => {
        const lastId = messageIds[messageIds.length - 1];
        const receipt = waitFor(
            alice,
            sdk.RoomEvent.Receipt,
            (event, room) =>
                room.roomId === roomId &&
                Object.values(event.getContent()).some((byType) => byType?.["m.read"]?.[bobId]),
            "bob's read receipt at alice",
        );
        const target = bob.getRoom(roomId).findEventById(lastId);
        assert.ok(target, "bob has the message he reads");
        await bob.sendReadReceipt(target);
        const [event] = await receipt;
        assert.ok(event.getContent()[lastId]?.["m.read"]?.[bobId]?.ts > 0, JSON.stringify(event.getContent()));
        // Receipts the SDK synthesises from a user's own messages are left out here.
        assert.equal(alice.getRoom(roomId).getReadReceiptForUserId(bobId, true)?.eventId, lastId);
    });
});
