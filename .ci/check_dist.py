"""Check that the built wheel and sdist carry what users need (the shipped models, the model cards)."""
import sys
import tarfile
import zipfile
from pathlib import Path

dist = Path(sys.argv[1])
wheels = list(dist.glob("*.whl"))
sdists = list(dist.glob("*.tar.gz"))
if len(wheels) != 1 or len(sdists) != 1:
    sys.exit(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
names = zipfile.ZipFile(wheels[0]).namelist()
snames = tarfile.open(sdists[0]).getnames()
problems = []
models = sorted({n.split("/")[2] for n in names if n.startswith("radioassist/models/") and n.count("/") >= 3})
for model in models:
    for required in ("config.json", "model.safetensors", "README.md"):
        if f"radioassist/models/{model}/{required}" not in names:
            problems.append(f"wheel lacks radioassist/models/{model}/{required}")
for required in ("radioassist/__init__.py", "radioassist/cli/__init__.py", "radioassist/data/report.html",
                 "radioassist/data/report.js", "radioassist/data/report.css"):
    if required not in names:
        problems.append(f"wheel lacks {required}")
if not any(n.endswith("/tests/test_image.py") or n.endswith("tests/test_image.py") for n in snames):
    problems.append("sdist lacks the tests")
if problems:
    sys.exit("\n".join(problems))
print(f"{wheels[0].name}: {len(names)} files, shipped models: {', '.join(models) or 'none'}")
print(f"{sdists[0].name}: {len(snames)} files")
