"""sample_data: write every raw table in its real published format under data/01_raw."""

from kedro.pipeline import Node, Pipeline

from health_risk.pipelines.sample_data.nodes import (
    make_brfss_survey,
    make_insurance_charges,
    make_saipe_states,
    make_stroke_patients,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(make_brfss_survey, ["params:sample_data", "params:brfss_survey_spec"],
                 "brfss.raw_source@pandas", name="make_brfss_survey_xpt"),
            Node(make_saipe_states, ["params:sample_data", "params:saipe_spec"],
                 "census.raw_source@pandas", name="make_saipe_state_table"),
            Node(make_stroke_patients, ["params:sample_data", "params:stroke_spec"],
                 "stroke.raw_source@pandas", name="make_stroke_csv"),
            Node(make_insurance_charges, ["params:sample_data", "params:insurance_spec"],
                 ["insurance.raw_source@pandas", "insurance.raw_database@pandas"],
                 name="make_insurance_csv_and_table"),
        ],
        tags=["sample_data"],
    )
