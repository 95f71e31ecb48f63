"""`manage.py evidence_verify PACK.json [--pdf PACK.pdf] [--public-key KEY.pem]`: check an evidence pack's signature."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reports.evidence import evidence_verify


class Command(BaseCommand):
    help = (
        "Verify an evidence pack: the Ed25519 signature of its JSON (with this installation's key, or --public-key) "
        "and, with --pdf, that the PDF is the one whose SHA-256 the JSON signs. Exits 1 if anything does not match."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The pack's JSON file (guardwatch-evidence-….json).")
        parser.add_argument("--pdf", help="The pack's PDF, to check against the signed SHA-256.")
        parser.add_argument("--public-key", help="A PEM public key to verify with instead of the configured key.")

    def handle(self, *args, file: str, pdf: str | None, public_key: str | None, **options):
        try:
            json_bytes = Path(file).read_bytes()
            pdf_bytes = Path(pdf).read_bytes() if pdf else None
            public_pem = Path(public_key).read_bytes() if public_key else None
        except OSError as error:
            raise CommandError(f"Cannot read {error.filename}: {error.strerror}.") from None
        result = evidence_verify(json_bytes=json_bytes, pdf_bytes=pdf_bytes, public_pem=public_pem)
        for message in result.messages:
            self.stdout.write(message)
        if not result.ok:
            raise CommandError("NOT VERIFIED: " + result.messages[-1])
        self.stdout.write(self.style.SUCCESS("VERIFIED"))
