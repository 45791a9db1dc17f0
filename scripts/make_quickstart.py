"""Write notebooks/quickstart.ipynb (kept as code so its cells stay reviewable in diffs)."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("# nbtoolkit quickstart\n\nTrain a small scikit-learn model, version it in the "
                      "registry, gate its promotion on a metric, and load it back (integrity-checked)."),
    new_code_cell("# parameters\nmodel_name = \"wine\"\nC = 1.0\nseed = 0", metadata={"tags": ["parameters"]}),
    new_code_cell("%load_ext nbtoolkit"),
    new_code_cell(
        "from sklearn.datasets import load_wine\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.model_selection import train_test_split\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n\n"
        "X, y = load_wine(return_X_y=True, as_frame=True)\n"
        "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)\n"
        "clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(X_train, y_train)\n"
        "accuracy = clf.score(X_test, y_test)\n"
        "accuracy"),
    new_markdown_cell("Register the fitted pipeline with its training data (fingerprint, schema and "
                      "profile are stored on the version) and its test accuracy."),
    new_code_cell("version = %nbt register clf --name {model_name} --data X_train y_train "
                  "--metric accuracy={accuracy} --param C={C}\nversion"),
    new_code_cell("%nbt versions {model_name}"),
    new_markdown_cell("Promote only when the gate holds; `%nbt promote` refuses and says which gate failed otherwise."),
    new_code_cell("%nbt promote {model_name} {version.version} --alias champion --require accuracy>=0.8"),
    new_code_cell("champion = %nbt load {model_name}@champion\n"
                  "assert (champion.predict(X_test) == clf.predict(X_test)).all()\n"
                  "champion"),
    new_code_cell("%nbt lineage {model_name}@champion"),
    new_markdown_cell("The same model is plain MLflow too:"),
    new_code_cell("import mlflow, nbtoolkit.config as cfg\n"
                  "mlflow.set_tracking_uri(cfg.tracking_uri())\n"
                  "mlflow.pyfunc.load_model(f\"models:/{model_name}@champion\").predict(X_test.head(3))"),
]
nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
})
nbformat.write(nb, "notebooks/quickstart.ipynb")
