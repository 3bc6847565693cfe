"""Co-signatures without Temporal: the second person of a two-person action proves it with a
signature of their own (models/cosignature.py), and the audit chain version 2 seals what
each signature meant and who co-signed (models/audit.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from typer.testing import CliRunner

from cli.audit import audit_app
from client.audit import ExportFormat, read_trail, to_csv, to_jsonl, verify_trail
from client.signing import cosigner_among, sign_action
from models.actions import parse_action
from models.actor import (
    AssertionExpired,
    AssertionForged,
    AssertionReplayed,
    VerifiedActor,
    verify_assertion,
)
from models.audit import verify_chain
from models.cosignature import (
    CosignatureMissing,
    CosignatureRefused,
    CosignedBySigner,
    CosignerNotNamed,
    CosignerRoleNotHeld,
    SignerMeaningReserved,
    cosigner_roles,
    named_others,
    verify_cosignature,
)
from models.record import AuditEntry, PathwayRecord
from models.referral import Binome
from models.refusals import Refusal
from models.roles import Role
from signin.accounts import demo_accounts
from signin.keys import SigningKeys
from signin.service import AssertionService
from signin.service_accounts import service_account

PATHWAY = "pathway-centre-a-LUP-001"
MDTM = {"ard_specialist": "dr.martin", "cell_therapy_specialist": "dr.roux"}
INFUSION = {"bag_coi_id": "COI-1", "checked_by": ["n.bernard", "dr.roux"]}
NOW = datetime.now(UTC)  # record timestamps only: a token is checked at the time it is checked


def now() -> datetime:
    """Tokens are issued at the real time: under a loaded xdist run a module-level NOW can
    lie more than the leeway before them (AssertionNotYetValid)."""
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def signed() -> tuple[AssertionService, dict[str, str]]:
    book, passwords = demo_accounts(hasher=PasswordHasher.from_parameters(CHEAPEST))
    return AssertionService(SigningKeys.generate("k1"), authenticator=book), passwords


def signer(service: AssertionService, passwords: dict[str, str], actor: str, event: str):
    token = service_account(service, actor, passwords[actor]).assertion_for(
        pathway_id=PATHWAY, event=event, update_id="u-1"
    )
    return verify_assertion(
        token,
        service.keys.public_ring(),
        pathway_id=PATHWAY,
        action=event,
        update_id="u-1",
        now=now(),
    )


def cosigned(service, passwords, who: str, event: str, update_id: str = "u-1", **claims) -> str:
    return service.cosign_with_password(
        who,
        passwords[who],
        pathway_id=claims.get("pathway", PATHWAY),
        action=event,
        update_id=update_id,
    )


def check(service, first: VerifiedActor, event: str, data: dict, token: str | None, at=None):
    action = parse_action(
        event, {**data, "actor": first.actor, "role": first.roles[0], "cosignature": token}
    )
    return verify_cosignature(action, event, first, service.keys.public_ring(), now=at or now())


class TestWhoCoSigns:
    def test_the_other_half_of_the_binome_in_their_specialty(self) -> None:
        assert named_others("approve_at_mdtm", MDTM, "Dr.Martin") == ["dr.roux"]
        assert cosigner_roles("approve_at_mdtm", MDTM, "dr.roux") == {Role.CELL_THERAPY_SPECIALIST}
        assert cosigner_roles("approve_at_mdtm", MDTM, "dr.martin") == {Role.ARD_SPECIALIST}

    def test_the_other_bedside_checker_may_infuse(self) -> None:
        assert named_others("infuse", INFUSION, "n.bernard") == ["dr.roux"]
        assert cosigner_roles("infuse", INFUSION, "dr.roux") == {
            Role.NURSE,
            Role.CELL_THERAPY_SPECIALIST,
        }


class TestVerify:
    def test_the_second_person_verified(self, signed) -> None:
        service, pw = signed
        first = signer(service, pw, "n.bernard", "infuse")
        second = check(
            service, first, "infuse", INFUSION, cosigned(service, pw, "dr.roux", "infuse")
        )
        assert second is not None and second.actor == "dr.roux" and second.meaning == "verified"
        mdtm = signer(service, pw, "dr.martin", "approve_at_mdtm")
        token = cosigned(service, pw, "dr.roux", "approve_at_mdtm")
        assert check(service, mdtm, "approve_at_mdtm", MDTM, token).actor == "dr.roux"

    def test_missing(self, signed) -> None:
        service, pw = signed
        first = signer(service, pw, "n.bernard", "infuse")
        with pytest.raises(CosignatureMissing, match="dr.roux must co-sign"):
            check(service, first, "infuse", INFUSION, None)

    def test_by_the_signer_themself(self, signed) -> None:
        service, pw = signed
        first = signer(service, pw, "n.bernard", "infuse")
        own = cosigned(service, pw, "n.bernard", "infuse")
        with pytest.raises(CosignedBySigner, match="must be someone else"):
            check(
                service,
                first,
                "infuse",
                {**INFUSION, "checked_by": ["n.bernard", "N.Bernard "]},
                own,
            )

    def test_by_someone_not_named(self, signed) -> None:
        service, pw = signed
        first = signer(service, pw, "n.bernard", "infuse")
        with pytest.raises(CosignerNotNamed, match="dr.martin co-signed"):
            check(service, first, "infuse", INFUSION, cosigned(service, pw, "dr.martin", "infuse"))

    def test_without_the_role(self, signed) -> None:
        service, pw = signed
        first = signer(service, pw, "n.bernard", "infuse")
        data = {**INFUSION, "checked_by": ["n.bernard", "p.laurent"]}
        with pytest.raises(CosignerRoleNotHeld, match="p.laurent co-signed .* not a"):
            check(service, first, "infuse", data, cosigned(service, pw, "p.laurent", "infuse"))
        # the binôme: dr.roux named as the ARD specialist is not one
        mdtm = signer(service, pw, "dr.martin", "approve_at_mdtm")
        swapped = {"ard_specialist": "dr.roux", "cell_therapy_specialist": "dr.martin"}
        token = cosigned(service, pw, "dr.roux", "approve_at_mdtm")
        with pytest.raises(CosignerRoleNotHeld, match="autoimmune-disease specialist"):
            check(service, mdtm, "approve_at_mdtm", swapped, token)

    def test_forged_expired_replayed(self, signed) -> None:
        service, pw = signed
        first = signer(service, pw, "n.bernard", "infuse")
        token = cosigned(service, pw, "dr.roux", "infuse")
        head, body, sig = token.split(".")
        forged = f"{head}.{body}.{sig[:-4]}AAAA"
        with pytest.raises(AssertionForged, match="co-signature"):
            check(service, first, "infuse", INFUSION, forged)
        with pytest.raises(AssertionExpired, match="co-signature"):
            check(service, first, "infuse", INFUSION, token, at=now() + timedelta(minutes=10))
        other = cosigned(service, pw, "dr.roux", "infuse", update_id="u-2")
        with pytest.raises(AssertionReplayed, match="co-signature"):
            check(service, first, "infuse", INFUSION, other)
        # the signer's own assertion is not a co-signature, nor the reverse
        own = service_account(service, "dr.roux", pw["dr.roux"]).assertion_for(
            pathway_id=PATHWAY, event="infuse", update_id="u-1"
        )
        with pytest.raises(AssertionForged, match="not a co-signature"):
            check(service, first, "infuse", INFUSION, own)
        with pytest.raises(AssertionForged, match="not an actor assertion"):
            verify_assertion(
                token,
                service.keys.public_ring(),
                pathway_id=PATHWAY,
                action="infuse",
                update_id="u-1",
                now=now(),
            )

    def test_the_signer_does_not_sign_as_verified(self, signed) -> None:
        service, pw = signed
        session = service.sign_in("n.bernard", pw["n.bernard"])
        token = service.assert_action(
            session.token,
            pathway_id=PATHWAY,
            action="infuse",
            update_id="u-1",
            credential=pw["n.bernard"],
            meaning="verified",
        )
        first = verify_assertion(
            token,
            service.keys.public_ring(),
            pathway_id=PATHWAY,
            action="infuse",
            update_id="u-1",
            now=now(),
        )
        with pytest.raises(SignerMeaningReserved):
            check(service, first, "infuse", INFUSION, cosigned(service, pw, "dr.roux", "infuse"))

    def test_an_action_of_one_person_takes_none(self, signed) -> None:
        service, pw = signed
        first = signer(service, pw, "n.bernard", "record_fever")
        with pytest.raises(CosignatureRefused, match="not a two-person action"):
            check(service, first, "record_fever", {"temperature_c": 39}, "x.y.z")
        assert check(service, first, "record_fever", {"temperature_c": 39}, None) is None


def trail(chain: int) -> PathwayRecord:
    rec = PathwayRecord(
        pathway_id=PATHWAY,
        pseudonym="LUP-001",
        centre="centre-a",
        therapy="car-t",  # type: ignore[arg-type]
        disease="lupus",
        protocol_id="cart-cd19-lupus",
        binome=Binome(ard_specialist="dr.martin", cell_therapy_specialist="dr.roux"),
        referred_at=NOW,
    )
    for seq, (event, meaning, second) in enumerate(
        [("record_consent", None, None), ("infuse", "administered", "dr.roux")], start=1
    ):
        rec.append_audit(
            AuditEntry(
                seq=seq,
                at=NOW + timedelta(minutes=seq),
                event=event,
                actor="n.bernard",
                role=Role.NURSE,
                from_state="a",
                to_state="b",
                meaning=meaning,
                cosigner=second if chain == 2 else None,
                cosigner_role=Role.CELL_THERAPY_SPECIALIST if second and chain == 2 else None,
                cosigner_meaning="verified" if second and chain == 2 else None,
                chain=chain,
            )
        )
    return rec


class TestChainVersion2:
    def test_a_changed_meaning_or_cosigner_is_an_edit(self) -> None:
        for change in (
            {"meaning": "verified"},
            {"cosigner": "dr.martin"},
            {"cosigner_role": Role.NURSE},
            {"cosigner_meaning": "approved"},
            {"chain": 1},  # relabelled as version 1, which does not hash the meaning
        ):
            rec = trail(2)
            rec.audit[1] = rec.audit[1].model_copy(update=change)
            problems = verify_chain(rec.audit, PATHWAY)
            assert [p.kind for p in problems] == ["edited"], change

    def test_version_1_entries_verify_as_before(self) -> None:
        rec = trail(1)
        assert verify_chain(rec.audit, PATHWAY) == []
        # version 1 never covered the meaning: changing it there goes unnoticed, as before
        rec.audit[1] = rec.audit[1].model_copy(update={"meaning": "verified"})
        assert verify_chain(rec.audit, PATHWAY) == []

    def test_versions_link_into_one_chain_and_survive_csv(self) -> None:
        old, new = trail(1), trail(2)
        mixed = PathwayRecord.model_validate({**old.model_dump(), "audit": []})
        mixed.append_audit(old.audit[0].model_copy())
        mixed.append_audit(new.audit[1].model_copy(update={"prev_hash": "", "hash": ""}))
        assert verify_chain(mixed.audit, PATHWAY) == []
        back = read_trail(to_csv(PATHWAY, mixed.audit), ExportFormat.CSV)
        assert verify_trail(back) == []
        assert back.entries[1].cosigner == "dr.roux" and back.entries[0].chain == 1
        edited = to_csv(PATHWAY, mixed.audit).replace("administered", "approved")
        assert [p.kind for p in verify_trail(read_trail(edited, ExportFormat.CSV))] == ["edited"]

    @pytest.mark.parametrize("fmt", list(ExportFormat))
    def test_cellpath_audit_verify_finds_a_changed_meaning(
        self, tmp_path: Path, fmt: ExportFormat
    ) -> None:
        entries = trail(2).audit
        text = to_csv(PATHWAY, entries) if fmt is ExportFormat.CSV else to_jsonl(PATHWAY, entries)
        path = tmp_path / f"trail.{fmt.value}"
        path.write_text(text, encoding="utf-8", newline="")
        assert CliRunner().invoke(audit_app, ["verify", str(path)]).exit_code == 0
        path.write_text(text.replace("administered", "approved"), encoding="utf-8", newline="")
        result = CliRunner().invoke(audit_app, ["verify", str(path)])
        assert result.exit_code == 1 and "edited" in result.output, result.output


class TestClientsCoSign:
    """The demo's service accounts (and any ``SessionSigner``) co-sign as the second person
    the action names; a co-signature goes through ``sign_action`` like the assertion."""

    def test_the_demo_finds_and_uses_the_cosigner_among(self, signed) -> None:
        service, pw = signed
        accounts = {p: service_account(service, p, pw[p]) for p in ("n.bernard", "dr.roux")}
        data = {"actor": "n.bernard", "role": "nurse", **INFUSION}
        second = cosigner_among("infuse", data, dict(accounts))
        assert second is accounts["dr.roux"]
        assert cosigner_among("record_fever", data, dict(accounts)) is None
        update_id, sent = sign_action(
            data,
            accounts["n.bernard"],
            workflow_id=PATHWAY,
            event="infuse",
            update_id="u-1",
            cosigner=second,
        )
        first = signer(service, pw, "n.bernard", "infuse")
        assert check(service, first, "infuse", INFUSION, sent["cosignature"]).actor == "dr.roux"

    def test_a_wrong_cosigner_password_is_refused_at_signing(self, signed) -> None:
        service, _ = signed
        with pytest.raises(Refusal):
            service.cosign_with_password(
                "dr.roux",
                "not-her-password",
                pathway_id=PATHWAY,
                action="infuse",
                update_id="u-1",
            )
